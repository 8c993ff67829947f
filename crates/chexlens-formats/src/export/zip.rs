//! A zip archive of stored (uncompressed) entries, built in memory. Overlay
//! PNGs are compressed already, so storing them costs little and keeps the
//! writer small; every unzip tool and the browser's own reads it.

use thiserror::Error;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_CENTRAL_DIRECTORY: u32 = 0x0605_4b50;
/// Version 2.0 (stored entries, folders); bit 11 of the flags: UTF-8 names.
const VERSION: u16 = 20;
const UTF8_NAMES: u16 = 1 << 11;
/// 1980-01-01 00:00, the format's earliest date: the archive's bytes then
/// depend on its contents only.
const DOS_DATE: u16 = (1 << 5) | 1;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum ZipError {
    /// Past what a zip without the zip64 extension can hold.
    #[error("the export is too large for one archive (at most 65,535 files and 4 GB)")]
    TooLarge,
    #[error("a file name in the export is empty or longer than 65,535 bytes")]
    BadName,
    #[error("the export names {0} twice")]
    Duplicate(String),
}

struct Written {
    name: String,
    crc32: u32,
    size: u32,
    offset: u32,
}

/// An archive being written: [`StoredZip::add`] each file, then [`StoredZip::finish`].
#[derive(Default)]
pub struct StoredZip {
    bytes: Vec<u8>,
    entries: Vec<Written>,
}

fn u16_le(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn u32_le(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

impl StoredZip {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds a file; `name` uses `/` between folders.
    pub fn add(&mut self, name: &str, data: &[u8]) -> Result<(), ZipError> {
        if name.is_empty() || name.len() > u16::MAX as usize {
            return Err(ZipError::BadName);
        }
        if self.entries.iter().any(|e| e.name == name) {
            return Err(ZipError::Duplicate(name.to_owned()));
        }
        if self.entries.len() >= u16::MAX as usize {
            return Err(ZipError::TooLarge);
        }
        let size = u32::try_from(data.len()).map_err(|_| ZipError::TooLarge)?;
        let offset = u32::try_from(self.bytes.len()).map_err(|_| ZipError::TooLarge)?;
        let header_and_data = 30 + name.len() + data.len();
        if self.bytes.len() as u64 + header_and_data as u64 > u32::MAX as u64 {
            return Err(ZipError::TooLarge);
        }
        let crc32 = crc32fast::hash(data);
        let out = &mut self.bytes;
        u32_le(out, LOCAL_HEADER);
        u16_le(out, VERSION);
        u16_le(out, UTF8_NAMES);
        u16_le(out, 0); // stored
        u16_le(out, 0); // time
        u16_le(out, DOS_DATE);
        u32_le(out, crc32);
        u32_le(out, size);
        u32_le(out, size);
        u16_le(out, name.len() as u16);
        u16_le(out, 0); // extra field
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        self.entries.push(Written {
            name: name.to_owned(),
            crc32,
            size,
            offset,
        });
        Ok(())
    }

    /// The archive's bytes: the entries, their central directory and the end record.
    pub fn finish(mut self) -> Result<Vec<u8>, ZipError> {
        let directory_start = self.bytes.len();
        let directory_len: usize = self.entries.iter().map(|e| 46 + e.name.len()).sum();
        if (directory_start + directory_len + 22) as u64 > u32::MAX as u64 {
            return Err(ZipError::TooLarge);
        }
        let out = &mut self.bytes;
        for e in &self.entries {
            u32_le(out, CENTRAL_HEADER);
            u16_le(out, VERSION); // made by
            u16_le(out, VERSION); // needed
            u16_le(out, UTF8_NAMES);
            u16_le(out, 0);
            u16_le(out, 0);
            u16_le(out, DOS_DATE);
            u32_le(out, e.crc32);
            u32_le(out, e.size);
            u32_le(out, e.size);
            u16_le(out, e.name.len() as u16);
            u16_le(out, 0); // extra field
            u16_le(out, 0); // comment
            u16_le(out, 0); // disk
            u16_le(out, 0); // internal attributes
            u32_le(out, 0); // external attributes
            u32_le(out, e.offset);
            out.extend_from_slice(e.name.as_bytes());
        }
        let count = self.entries.len() as u16;
        u32_le(out, END_OF_CENTRAL_DIRECTORY);
        u16_le(out, 0);
        u16_le(out, 0);
        u16_le(out, count);
        u16_le(out, count);
        u32_le(out, directory_len as u32);
        u32_le(out, directory_start as u32);
        u16_le(out, 0); // comment
        Ok(self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::zip::StoredArchive;

    #[test]
    fn reads_back_through_the_checkpoint_reader() {
        let mut zip = StoredZip::new();
        zip.add("overlays/a.png", b"first").unwrap();
        zip.add("provenance.json", b"{}").unwrap();
        zip.add("überall/empty.txt", b"").unwrap();
        assert_eq!(
            zip.add("provenance.json", b"again"),
            Err(ZipError::Duplicate("provenance.json".into()))
        );
        assert_eq!(zip.add("", b""), Err(ZipError::BadName));
        assert_eq!(zip.len(), 3);
        let bytes = zip.finish().unwrap();
        let archive = StoredArchive::parse(&bytes).unwrap();
        assert_eq!(
            archive.names().collect::<Vec<_>>(),
            ["overlays/a.png", "provenance.json", "überall/empty.txt"]
        );
        assert_eq!(archive.read("overlays/a.png").unwrap(), b"first");
        assert_eq!(archive.read("provenance.json").unwrap(), b"{}");
        assert_eq!(archive.read("überall/empty.txt").unwrap(), b"");
    }

    #[test]
    fn an_empty_archive_is_just_the_end_record() {
        let bytes = StoredZip::new().finish().unwrap();
        assert_eq!(bytes.len(), 22);
        assert_eq!(StoredArchive::parse(&bytes).unwrap().names().count(), 0);
    }
}
