//! The zip container of a `.pth` file, read within fixed bounds: `torch.save`
//! stores every entry uncompressed, so an entry is a byte range of the file
//! and nothing is copied. The end record is looked for only where the format
//! allows it (the last 64 KiB + 22 bytes), every offset and size is checked
//! against the file before use, and the entry count is capped, so a hostile
//! archive costs time and memory linear in its size at most.
//!
//! Our own rather than the `zip` crate's reader, which wants `Read + Seek`
//! and copies each entry out: here an entry is a range of bytes already in
//! memory, and the streaming reader (`stream.rs`) walks the same records as
//! the file arrives.

use super::error::WeightErrorKind;
use super::le_bytes::LeBytes;
use std::collections::BTreeMap;
use std::ops::Range;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_CENTRAL_DIRECTORY: u32 = 0x0605_4b50;
const ZIP64_END_LOCATOR: u32 = 0x0706_4b50;
const ZIP64_END_OF_CENTRAL_DIRECTORY: u32 = 0x0606_4b50;
const ZIP64_EXTRA_FIELD: u16 = 0x0001;
const END_RECORD_LEN: usize = 22;
const MAX_COMMENT_LEN: usize = u16::MAX as usize;
/// A convnext_base state dict has about 350 entries; a training checkpoint
/// with its optimiser state a few thousand.
pub const MAX_ENTRIES: usize = 1 << 16;

/// One stored entry: where its bytes are and the CRC-32 they must have.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub data: Range<usize>,
    crc32: u32,
}

/// The entries of a stored (uncompressed) zip archive, by name.
pub struct StoredArchive<'a> {
    bytes: &'a [u8],
    entries: BTreeMap<String, Entry>,
}

fn damaged(detail: impl Into<String>) -> WeightErrorKind {
    WeightErrorKind::DamagedArchive(detail.into())
}

/// Reads within the archive; past its end the archive is damaged.
fn reader(bytes: &[u8], pos: usize) -> LeBytes<'_> {
    LeBytes::at(bytes, pos, |_| damaged("a header runs past the end of the file"))
}

fn to_usize(v: u64, what: &str) -> Result<usize, WeightErrorKind> {
    usize::try_from(v).map_err(|_| damaged(format!("{what} is beyond the file")))
}

/// Where the central directory is and how many entries it claims.
struct Directory {
    offset: u64,
    size: u64,
    entries: u64,
}

fn find_end_record(bytes: &[u8]) -> Result<usize, WeightErrorKind> {
    if bytes.len() < END_RECORD_LEN {
        return Err(damaged("the file is too short to be a zip archive"));
    }
    let last = bytes.len() - END_RECORD_LEN;
    let first = last.saturating_sub(MAX_COMMENT_LEN);
    (first..=last)
        .rev()
        .find(|&p| bytes[p..p + 4] == END_OF_CENTRAL_DIRECTORY.to_le_bytes())
        .ok_or_else(|| damaged("no end-of-central-directory record (the file is truncated)"))
}

/// Reads the end records of `bytes`, a file's last bytes starting at
/// offset `base` of the file (0 for the whole file).
fn read_directory(bytes: &[u8], base: u64) -> Result<Directory, WeightErrorKind> {
    let end = find_end_record(bytes)?;
    let mut r = reader(bytes, end + 4);
    let (disk, directory_disk) = (r.u16()?, r.u16()?);
    let (_, entries) = (r.u16()?, r.u16()?);
    let (size, offset) = (r.u32()?, r.u32()?);
    if disk != 0 || directory_disk != 0 {
        return Err(damaged("multi-volume archives are not weight files"));
    }
    let needs_zip64 = entries == u16::MAX || size == u32::MAX || offset == u32::MAX;
    let locator = end.checked_sub(20);
    let has_locator = locator.is_some_and(|l| bytes[l..l + 4] == ZIP64_END_LOCATOR.to_le_bytes());
    if !has_locator {
        if needs_zip64 {
            return Err(damaged("a zip64 archive without its zip64 end record"));
        }
        return Ok(Directory {
            offset: offset.into(),
            size: size.into(),
            entries: entries.into(),
        });
    }
    let mut l = reader(bytes, locator.unwrap_or(0) + 8);
    let record = l
        .u64()?
        .checked_sub(base)
        .ok_or_else(|| damaged("the zip64 end record lies before the central directory"))?;
    let mut r = reader(bytes, to_usize(record, "the zip64 end record")?);
    if r.u32()? != ZIP64_END_OF_CENTRAL_DIRECTORY {
        return Err(damaged("the zip64 end record is missing"));
    }
    r.skip(8 + 2 + 2 + 4 + 4 + 8)?;
    let entries = r.u64()?;
    let size = r.u64()?;
    let offset = r.u64()?;
    Ok(Directory { offset, size, entries })
}

/// One entry as the central directory lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct CentralEntry {
    pub name: String,
    pub crc32: u32,
    pub size: u64,
    /// Where its local header starts in the file.
    pub header_offset: u64,
}

/// The central directory of `bytes`, a file's last bytes starting at offset
/// `base` (0 for the whole file), and where it starts in the file. Only
/// stored entries whose two sizes agree are accepted.
pub fn central_directory(bytes: &[u8], base: u64) -> Result<(Vec<CentralEntry>, u64), WeightErrorKind> {
    let directory = read_directory(bytes, base)?;
    let start = directory
        .offset
        .checked_sub(base)
        .ok_or_else(|| damaged("the central directory lies before the end of the entries"))?;
    let start = to_usize(start, "the central directory")?;
    let size = to_usize(directory.size, "the central directory")?;
    if start.checked_add(size).is_none_or(|end| end > bytes.len()) {
        return Err(damaged("the central directory lies beyond the end of the file"));
    }
    if directory.entries > MAX_ENTRIES as u64 {
        return Err(damaged(format!(
            "the archive claims {} entries; a weight file has far fewer than {MAX_ENTRIES}",
            directory.entries
        )));
    }
    let mut entries = Vec::new();
    let mut r = reader(bytes, start);
    for _ in 0..directory.entries {
        if r.u32()? != CENTRAL_HEADER {
            return Err(damaged("a central directory entry is damaged"));
        }
        r.skip(2 + 2 + 2)?;
        let method = r.u16()?;
        r.skip(4)?;
        let crc32 = r.u32()?;
        let mut compressed = u64::from(r.u32()?);
        let mut uncompressed = u64::from(r.u32()?);
        let (name_len, extra_len, comment_len) = (r.u16()? as usize, r.u16()? as usize, r.u16()? as usize);
        r.skip(2 + 2 + 4)?;
        let mut header_offset = u64::from(r.u32()?);
        let name = std::str::from_utf8(r.take(name_len)?)
            .map_err(|_| damaged("an entry name is not UTF-8"))?
            .to_owned();
        let extra = r.take(extra_len)?;
        r.skip(comment_len)?;
        zip64_values(extra, (&mut uncompressed, &mut compressed), &mut header_offset)?;
        if method != 0 {
            return Err(WeightErrorKind::CompressedEntry(format!(
                "{name}: compression method {method}"
            )));
        }
        if compressed != uncompressed {
            return Err(damaged(format!("{name}: a stored entry whose two sizes differ")));
        }
        entries.push(CentralEntry {
            name,
            crc32,
            size: uncompressed,
            header_offset,
        });
    }
    Ok((entries, directory.offset))
}

/// Reads a zip64 extra field's values for the fields the header left at their maximum.
fn zip64_values(extra: &[u8], sizes: (&mut u64, &mut u64), header_offset: &mut u64) -> Result<(), WeightErrorKind> {
    let mut r = reader(extra, 0);
    while r.pos + 4 <= extra.len() {
        let id = r.u16()?;
        let len = r.u16()? as usize;
        let body = r.take(len)?;
        if id != ZIP64_EXTRA_FIELD {
            continue;
        }
        let mut f = reader(body, 0);
        for field in [sizes.0, sizes.1, header_offset] {
            if *field == u64::from(u32::MAX) {
                *field = f.u64()?;
            }
        }
        return Ok(());
    }
    Ok(())
}

/// The signature that opens a data descriptor (optional in the format).
const DATA_DESCRIPTOR: u32 = 0x0807_4b50;
/// Flag bit 3: the CRC and sizes follow the data in a data descriptor,
/// as `torch.save` writes every entry.
const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;
/// Bytes that always decide a data descriptor: the longest form (signature,
/// CRC, two 8-byte sizes) and the signature of the header after it.
pub const DESCRIPTOR_LOOKAHEAD: usize = 4 + 4 + 16 + 4;

/// A local file header, read as the archive streams in.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalHeader {
    pub name: String,
    /// The CRC and size, unless a data descriptor after the data gives them.
    pub declared: Option<(u32, u64)>,
    /// The header's length, name and extra field included.
    pub len: usize,
}

/// What the bytes at the start of an archive's next record are.
#[derive(Debug, Clone, PartialEq)]
pub enum NextRecord {
    /// More bytes are needed to tell.
    Incomplete,
    Local(LocalHeader),
    /// The central directory (or the end records): the entries are over.
    Directory,
}

/// Reads the record that starts `bytes`, where a local header or the
/// central directory must begin.
pub fn next_record(bytes: &[u8]) -> Result<NextRecord, WeightErrorKind> {
    if bytes.len() < 4 {
        return Ok(NextRecord::Incomplete);
    }
    let signature = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if [CENTRAL_HEADER, END_OF_CENTRAL_DIRECTORY, ZIP64_END_OF_CENTRAL_DIRECTORY].contains(&signature) {
        return Ok(NextRecord::Directory);
    }
    if signature != LOCAL_HEADER {
        return Err(damaged("an entry's header is missing where it should start"));
    }
    if bytes.len() < 30 {
        return Ok(NextRecord::Incomplete);
    }
    let mut r = reader(bytes, 6);
    let flags = r.u16()?;
    let method = r.u16()?;
    r.skip(4)?;
    let crc32 = r.u32()?;
    let mut compressed = u64::from(r.u32()?);
    let mut uncompressed = u64::from(r.u32()?);
    let (name_len, extra_len) = (r.u16()? as usize, r.u16()? as usize);
    let len = 30 + name_len + extra_len;
    if bytes.len() < len {
        return Ok(NextRecord::Incomplete);
    }
    // Methods the format defines (stored, deflate, bzip2, lzma, zstd, xz,
    // ...); anything else is not a header at all.
    if ![0, 8, 9, 12, 14, 93, 95, 98].contains(&method) {
        return Err(damaged("an entry's header is damaged"));
    }
    let name = std::str::from_utf8(r.take(name_len)?)
        .map_err(|_| damaged("an entry name is not UTF-8"))?
        .to_owned();
    if method != 0 {
        let shown: String = name.chars().take(120).collect();
        return Err(WeightErrorKind::CompressedEntry(format!(
            "{shown}: compression method {method}"
        )));
    }
    let declared = if flags & FLAG_DATA_DESCRIPTOR != 0 {
        None
    } else {
        let mut unused = 0;
        zip64_values(r.take(extra_len)?, (&mut uncompressed, &mut compressed), &mut unused)?;
        if compressed != uncompressed {
            return Err(damaged(format!("{name}: a stored entry whose two sizes differ")));
        }
        Some((crc32, uncompressed))
    };
    Ok(NextRecord::Local(LocalHeader { name, declared, len }))
}

/// Whether `bytes` open with the data descriptor of an entry of `size`
/// bytes with `crc32`, followed by the next record's signature: its length
/// if so. The forms with and without the signature and with 4- or 8-byte
/// sizes are all tried; `bytes` must hold [`DESCRIPTOR_LOOKAHEAD`] bytes
/// unless the file ends sooner.
pub fn data_descriptor(bytes: &[u8], crc32: u32, size: u64) -> Option<usize> {
    let u32_at = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |at: usize| {
        bytes
            .get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    let opens_record = |at: usize| u32_at(at).is_some_and(|s| s == LOCAL_HEADER || s == CENTRAL_HEADER);
    let signed = usize::from(u32_at(0) == Some(DATA_DESCRIPTOR)) * 4;
    [signed, 0].into_iter().find_map(|start| {
        if u32_at(start) != Some(crc32) {
            return None;
        }
        let short = start + 12;
        let long = start + 20;
        if u32_at(start + 4).map(u64::from) == Some(size)
            && u32_at(start + 8).map(u64::from) == Some(size)
            && opens_record(short)
        {
            Some(short)
        } else if u64_at(start + 4) == Some(size) && u64_at(start + 12) == Some(size) && opens_record(long) {
            Some(long)
        } else {
            None
        }
    })
}

impl<'a> StoredArchive<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, WeightErrorKind> {
        let (listed, start) = central_directory(bytes, 0)?;
        let start = to_usize(start, "the central directory")?;
        let mut entries = BTreeMap::new();
        for CentralEntry {
            name,
            crc32,
            size,
            header_offset,
        } in listed
        {
            let data = Self::entry_data(bytes, &name, header_offset, size, start)?;
            entries.entry(name).or_insert(Entry { data, crc32 });
        }
        Ok(Self { bytes, entries })
    }

    /// The byte range behind a local header, which must end before the
    /// central directory begins.
    fn entry_data(
        bytes: &[u8],
        name: &str,
        header_offset: u64,
        size: u64,
        directory_start: usize,
    ) -> Result<Range<usize>, WeightErrorKind> {
        let mut local = reader(bytes, to_usize(header_offset, name)?);
        if local.u32()? != LOCAL_HEADER {
            return Err(damaged(format!("{name}: its local header is missing")));
        }
        local.skip(22)?;
        let (name_len, extra_len) = (local.u16()? as usize, local.u16()? as usize);
        local.skip(name_len + extra_len)?;
        let begin = local.pos;
        let end = begin
            .checked_add(to_usize(size, name)?)
            .filter(|&end| end <= directory_start)
            .ok_or_else(|| damaged(format!("{name}: its data runs past the end of the archive")))?;
        Ok(begin..end)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// An entry's bytes, after checking their CRC-32.
    pub fn read(&self, name: &str) -> Result<&'a [u8], WeightErrorKind> {
        let entry = self
            .entries
            .get(name)
            .ok_or_else(|| WeightErrorKind::MissingArchiveEntry(name.to_owned()))?;
        let data = &self.bytes[entry.data.clone()];
        if crc32fast::hash(data) != entry.crc32 {
            return Err(damaged(format!(
                "{name}: its checksum does not match (the file is corrupt)"
            )));
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-entry stored archive as Python's zipfile writes it.
    fn archive(name: &str, data: &[u8]) -> Vec<u8> {
        let crc = crc32fast::hash(data);
        let mut out = Vec::new();
        let header = |out: &mut Vec<u8>, central: bool| {
            out.extend(if central { CENTRAL_HEADER } else { LOCAL_HEADER }.to_le_bytes());
            if central {
                out.extend(20u16.to_le_bytes());
            }
            out.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend(crc.to_le_bytes());
            out.extend((data.len() as u32).to_le_bytes());
            out.extend((data.len() as u32).to_le_bytes());
            out.extend((name.len() as u16).to_le_bytes());
            out.extend(0u16.to_le_bytes());
            if central {
                out.extend([0u8; 10]);
                out.extend(0u32.to_le_bytes());
            }
            out.extend(name.as_bytes());
        };
        header(&mut out, false);
        out.extend(data);
        let directory = out.len();
        header(&mut out, true);
        let size = out.len() - directory;
        out.extend(END_OF_CENTRAL_DIRECTORY.to_le_bytes());
        out.extend([0, 0, 0, 0, 1, 0, 1, 0]);
        out.extend((size as u32).to_le_bytes());
        out.extend((directory as u32).to_le_bytes());
        out.extend(0u16.to_le_bytes());
        out
    }

    #[test]
    fn reads_a_stored_entry_in_place() {
        let bytes = archive("a/data.pkl", b"hello");
        let zip = StoredArchive::parse(&bytes).unwrap();
        assert_eq!(zip.names().collect::<Vec<_>>(), ["a/data.pkl"]);
        assert_eq!(zip.read("a/data.pkl").unwrap(), b"hello");
        assert_eq!(
            zip.read("b").unwrap_err(),
            WeightErrorKind::MissingArchiveEntry("b".into())
        );
    }

    #[test]
    fn a_changed_byte_fails_the_checksum() {
        let mut bytes = archive("x", b"hello");
        let at = bytes.windows(5).position(|w| w == b"hello").unwrap();
        bytes[at] = b'j';
        let zip = StoredArchive::parse(&bytes).unwrap();
        assert!(matches!(zip.read("x"), Err(WeightErrorKind::DamagedArchive(m)) if m.contains("checksum")));
    }

    #[test]
    fn every_truncation_is_refused_without_panic() {
        let bytes = archive("x", b"hello world");
        for len in 0..bytes.len() {
            assert!(StoredArchive::parse(&bytes[..len]).is_err(), "truncated at {len}");
        }
    }
}
