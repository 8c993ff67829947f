//! The zip archive the page's batch export packs its files in: stored
//! (uncompressed) entries, written as a stream:
//! each entry's bytes are handed back to be written out at once, and only
//! the central directory (names, checksums, offsets) is kept until the end.
//! Overlay PNGs are compressed already, so storing them costs little and
//! keeps the writer small. Past 65,535 entries or 4 GB the archive carries
//! zip64 records, which every current unzip tool reads.
//!
//! Our own, in some 200 lines: each entry is whole in memory when it is
//! added, so its local header carries its size and checksum and its bytes go
//! at once to the page's asynchronous writer. The `zip` crate's writer
//! writes to a synchronous `Write + Seek` (or, from zip 4.2, a non-seeking
//! stream with data descriptors after each entry); using it would mean a
//! buffer drained between entries and one more dependency in the page's
//! module, for the same archive.

use std::collections::HashSet;
use thiserror::Error;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_CENTRAL_DIRECTORY: u32 = 0x0605_4b50;
const ZIP64_END_OF_CENTRAL_DIRECTORY: u32 = 0x0606_4b50;
const ZIP64_END_LOCATOR: u32 = 0x0706_4b50;
const ZIP64_EXTRA_FIELD: u16 = 0x0001;
/// Version 2.0 (stored entries, folders); 4.5 where zip64 fields are used.
const VERSION: u16 = 20;
const VERSION_ZIP64: u16 = 45;
/// Bit 11 of the flags: UTF-8 names.
const UTF8_NAMES: u16 = 1 << 11;
/// 1980-01-01 00:00, the format's earliest date: the archive's bytes then
/// depend on its contents only.
const DOS_DATE: u16 = (1 << 5) | 1;
/// A bound on the central directory kept in memory (about 100 bytes an entry).
pub const MAX_ENTRIES: usize = 4_000_000;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum ZipError {
    #[error("the export holds more than {MAX_ENTRIES} files, or a file over 4 GB")]
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
    offset: u64,
}

/// An archive being written: [`ZipStream::add`] each file and write out the
/// bytes it returns, then write what [`ZipStream::finish`] returns.
#[derive(Default)]
pub struct ZipStream {
    /// Bytes handed out so far: where the next entry starts.
    written: u64,
    entries: Vec<Written>,
    names: HashSet<String>,
}

fn u16_le(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn u32_le(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn u64_le(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// A 32-bit field's value, or its maximum where the zip64 record holds it.
fn field_u32(v: u64) -> u32 {
    u32::try_from(v).ok().filter(|&v| v != u32::MAX).unwrap_or(u32::MAX)
}

impl ZipStream {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The archive's size once the bytes handed out so far are written.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Adds a file (`name` uses `/` between folders): its local header and
    /// data, to be written out next.
    pub fn add(&mut self, name: &str, data: &[u8]) -> Result<Vec<u8>, ZipError> {
        if name.is_empty() || name.len() > u16::MAX as usize {
            return Err(ZipError::BadName);
        }
        if self.names.contains(name) {
            return Err(ZipError::Duplicate(name.to_owned()));
        }
        if self.entries.len() >= MAX_ENTRIES {
            return Err(ZipError::TooLarge);
        }
        // Entries themselves stay under 4 GB: local headers need no zip64 field.
        let size = u32::try_from(data.len())
            .ok()
            .filter(|&s| s != u32::MAX)
            .ok_or(ZipError::TooLarge)?;
        let crc32 = crc32fast::hash(data);
        let mut out = Vec::with_capacity(30 + name.len() + data.len());
        u32_le(&mut out, LOCAL_HEADER);
        u16_le(&mut out, VERSION);
        u16_le(&mut out, UTF8_NAMES);
        u16_le(&mut out, 0); // stored
        u16_le(&mut out, 0); // time
        u16_le(&mut out, DOS_DATE);
        u32_le(&mut out, crc32);
        u32_le(&mut out, size);
        u32_le(&mut out, size);
        u16_le(&mut out, name.len() as u16);
        u16_le(&mut out, 0); // extra field
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        self.entries.push(Written {
            name: name.to_owned(),
            crc32,
            size,
            offset: self.written,
        });
        self.names.insert(name.to_owned());
        self.written += out.len() as u64;
        Ok(out)
    }

    /// The archive's last bytes: the central directory and its end records.
    pub fn finish(self) -> Vec<u8> {
        let directory_start = self.written;
        let mut out = Vec::new();
        for e in &self.entries {
            central_record(&mut out, e);
        }
        let directory_len = out.len() as u64;
        let count = self.entries.len() as u64;
        let zip64 = count >= u16::MAX as u64 || directory_len >= u32::MAX as u64 || directory_start >= u32::MAX as u64;
        if zip64 {
            let record_at = directory_start + directory_len;
            u32_le(&mut out, ZIP64_END_OF_CENTRAL_DIRECTORY);
            u64_le(&mut out, 44); // the record's size after this field
            u16_le(&mut out, VERSION_ZIP64);
            u16_le(&mut out, VERSION_ZIP64);
            u32_le(&mut out, 0); // disk
            u32_le(&mut out, 0); // the directory's disk
            u64_le(&mut out, count);
            u64_le(&mut out, count);
            u64_le(&mut out, directory_len);
            u64_le(&mut out, directory_start);
            u32_le(&mut out, ZIP64_END_LOCATOR);
            u32_le(&mut out, 0);
            u64_le(&mut out, record_at);
            u32_le(&mut out, 1); // disks
        }
        let count16 = u16::try_from(count).ok().filter(|&c| c != u16::MAX).unwrap_or(u16::MAX);
        u32_le(&mut out, END_OF_CENTRAL_DIRECTORY);
        u16_le(&mut out, 0);
        u16_le(&mut out, 0);
        u16_le(&mut out, count16);
        u16_le(&mut out, count16);
        u32_le(&mut out, field_u32(directory_len));
        u32_le(&mut out, field_u32(directory_start));
        u16_le(&mut out, 0); // comment
        out
    }
}

/// An entry's central directory header; one past 4 GB into the archive
/// carries its offset in a zip64 extra field.
fn central_record(out: &mut Vec<u8>, e: &Written) {
    let far = e.offset >= u32::MAX as u64;
    u32_le(out, CENTRAL_HEADER);
    u16_le(out, if far { VERSION_ZIP64 } else { VERSION }); // made by
    u16_le(out, if far { VERSION_ZIP64 } else { VERSION }); // needed
    u16_le(out, UTF8_NAMES);
    u16_le(out, 0);
    u16_le(out, 0);
    u16_le(out, DOS_DATE);
    u32_le(out, e.crc32);
    u32_le(out, e.size);
    u32_le(out, e.size);
    u16_le(out, e.name.len() as u16);
    u16_le(out, if far { 12 } else { 0 }); // extra field
    u16_le(out, 0); // comment
    u16_le(out, 0); // disk
    u16_le(out, 0); // internal attributes
    u32_le(out, 0); // external attributes
    u32_le(out, field_u32(e.offset));
    out.extend_from_slice(e.name.as_bytes());
    if far {
        u16_le(out, ZIP64_EXTRA_FIELD);
        u16_le(out, 8);
        u64_le(out, e.offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chexlens_checkpoints::weights::zip::{StoredArchive, central_directory};

    fn archive(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut zip = ZipStream::new();
        let mut bytes = Vec::new();
        for (name, data) in files {
            bytes.extend(zip.add(name, data).unwrap());
        }
        assert_eq!(zip.written(), bytes.len() as u64);
        bytes.extend(zip.finish());
        bytes
    }

    #[test]
    fn reads_back_through_the_checkpoint_reader() {
        let mut zip = ZipStream::new();
        zip.add("provenance.json", b"{}").unwrap();
        assert_eq!(
            zip.add("provenance.json", b"again"),
            Err(ZipError::Duplicate("provenance.json".into()))
        );
        assert_eq!(zip.add("", b""), Err(ZipError::BadName));
        assert_eq!(zip.len(), 1);
        let bytes = archive(&[
            ("overlays/a.png", b"first"),
            ("provenance.json", b"{}"),
            ("überall/empty.txt", b""),
        ]);
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
        let bytes = ZipStream::new().finish();
        assert_eq!(bytes.len(), 22);
        assert_eq!(StoredArchive::parse(&bytes).unwrap().names().count(), 0);
    }

    #[test]
    fn from_65535_entries_the_zip64_end_records_count_them() {
        // 65,535 fills the 16-bit count; the checkpoint reader takes at most 65,536.
        let names: Vec<String> = (0..65_535).map(|i| format!("o/{i}.png")).collect();
        let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), n.as_bytes())).collect();
        let bytes = archive(&files);
        let archive = StoredArchive::parse(&bytes).unwrap();
        assert_eq!(archive.names().count(), 65_535);
        assert_eq!(archive.read("o/65534.png").unwrap(), b"o/65534.png");
        let end = &bytes[bytes.len() - 22..];
        assert_eq!(end[8..12], [0xff; 4], "the 16-bit counts say: see the zip64 record");
    }

    #[test]
    fn an_entry_past_4_gb_gives_its_offset_in_a_zip64_field() {
        // An archive 5 GB long so far: only its last bytes are built here.
        let base = 5_000_000_000;
        let mut zip = ZipStream {
            written: base,
            ..ZipStream::default()
        };
        let mut tail = zip.add("far.png", b"abc").unwrap();
        tail.extend(zip.finish());
        let (entries, start) = central_directory(&tail, base).unwrap();
        assert_eq!(start, base + 30 + 7 + 3);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].name, "far.png");
        assert_eq!(entries[0].header_offset, base);
        assert_eq!(entries[0].size, 3);
    }
}
