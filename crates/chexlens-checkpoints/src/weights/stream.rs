//! Reading a weight file as its bytes arrive. Each tensor is converted to
//! f32 once its bytes are in, and those bytes are dropped, so the file is
//! never held whole: at most one tensor's (or one storage's) bytes wait.
//!
//! `.safetensors` streams by its header's offsets. A `.pth` archive streams
//! by its local headers: `torch.save` writes `data.pkl` first, which gives
//! each storage's size (its entries' sizes follow their data, in data
//! descriptors), and at the end the central directory must list exactly
//! the entries that were read. The tensors, checks and bounds are those of
//! reading the whole file at once ([`super::CheckpointIndex`]), which the
//! `weights_stream` fuzz target holds this to.

use super::error::{WeightError, WeightErrorKind};
use super::pickle::{TensorRef, read_pickle};
use super::pth::{slot as storage_view, state_dict_entries};
use super::safetensors::{self, HeaderEntry};
use super::tensor::{Placement, StoredDType, TensorF32, TensorSlot, check_kind};
use super::zip::{self, CentralEntry, DESCRIPTOR_LOOKAHEAD, NextRecord};
use super::{
    CheckpointIndex, FileFormat, MAX_FILE_BYTES, MAX_TENSORS, SNIFF_BYTES, StateDict, TensorShapes, sniff,
    strip_wrapper_prefixes,
};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

/// A check of a file's tensor names and shapes, run on its index: the
/// caller's network (`chexlens_checkpoints::architecture::expect`). The readers
/// know no network.
pub type ShapeCheck = Arc<dyn Fn(&TensorShapes) -> Result<(), WeightErrorKind> + Send + Sync>;

/// What a file's tensors are checked against, from its index (the
/// safetensors header or the pickle), before any value is converted.
#[derive(Clone)]
pub enum Expect {
    /// Any floating-point tensors.
    Anything,
    /// Names and shapes the caller's check accepts.
    Shapes(ShapeCheck),
}

impl std::fmt::Debug for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Expect::Anything => "Anything",
            Expect::Shapes(_) => "Shapes",
        })
    }
}

/// A weight file being read as it arrives: [`WeightStream::push`] its bytes
/// in order, then [`WeightStream::finish`].
pub struct WeightStream {
    format: Format,
    sink: Sink,
}

enum Format {
    /// The first bytes, until they tell the format.
    Sniffing(Vec<u8>),
    Safetensors(SafetensorsStream),
    Pth(Box<PthStream>),
    /// An error was returned; it is returned again.
    Failed(WeightErrorKind),
}

fn damaged(detail: impl Into<String>) -> WeightErrorKind {
    WeightErrorKind::DamagedArchive(detail.into())
}

impl WeightStream {
    /// `source` names the file in errors.
    pub fn new(source: &str, expect: Expect) -> Self {
        Self {
            format: Format::Sniffing(Vec::with_capacity(SNIFF_BYTES)),
            sink: Sink {
                source: source.to_string(),
                expect,
                received: 0,
                claimed: 0,
                f32_bytes: None,
                tensors: BTreeMap::new(),
            },
        }
    }

    /// Reads the next bytes of the file. After an error the stream is
    /// spent: every later call returns the same error.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), WeightError> {
        let result = self.try_push(bytes);
        self.fail_on(result)
    }

    /// The bytes the f32 tensors will take, once the file's index is read.
    pub fn f32_bytes(&self) -> Option<u64> {
        self.sink.f32_bytes
    }

    /// The file is whole: its tensors, each checked as the file describes it.
    pub fn finish(mut self) -> Result<StateDict, WeightError> {
        let format = std::mem::replace(&mut self.format, Format::Failed(WeightErrorKind::Empty));
        let finished = match format {
            Format::Failed(kind) => Err(kind),
            // Too short to tell the format, so too short to be a weight file
            // (no weight file is), so its error is the whole-file reader's.
            Format::Sniffing(bytes) => match CheckpointIndex::parse(&bytes, &self.sink.source) {
                Err(e) => return Err(e),
                Ok(_) => Err(WeightErrorKind::UnknownFormat),
            },
            Format::Safetensors(s) => s.finish(),
            Format::Pth(p) => p.finish(),
        };
        finished.map_err(|kind| self.sink.error(kind))?;
        Ok(StateDict {
            source: self.sink.source,
            tensors: self.sink.tensors,
        })
    }

    fn fail_on(&mut self, result: Result<(), WeightErrorKind>) -> Result<(), WeightError> {
        result.map_err(|kind| {
            self.format = Format::Failed(kind.clone());
            self.sink.error(kind)
        })
    }

    fn try_push(&mut self, mut bytes: &[u8]) -> Result<(), WeightErrorKind> {
        if let Format::Failed(kind) = &self.format {
            return Err(kind.clone());
        }
        self.sink.received = self.sink.received.saturating_add(bytes.len() as u64);
        if self.sink.received > MAX_FILE_BYTES {
            return Err(WeightErrorKind::FileTooLarge(self.sink.received));
        }
        if let Format::Sniffing(first) = &mut self.format {
            let take = (SNIFF_BYTES - first.len()).min(bytes.len());
            first.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if first.len() < SNIFF_BYTES {
                return Ok(());
            }
            let first = std::mem::take(first);
            self.format = match sniff(&first)? {
                FileFormat::Pth => Format::Pth(Box::default()),
                FileFormat::Safetensors => Format::Safetensors(SafetensorsStream::default()),
            };
            self.push_to_format(&first)?;
        }
        self.push_to_format(bytes)
    }

    fn push_to_format(&mut self, bytes: &[u8]) -> Result<(), WeightErrorKind> {
        match &mut self.format {
            Format::Safetensors(s) => s.push(bytes, &mut self.sink),
            Format::Pth(p) => p.push(bytes, &mut self.sink),
            Format::Sniffing(_) | Format::Failed(_) => Ok(()),
        }
    }
}

/// Where the formats put what they read: the index is checked once, each
/// tensor as it completes.
struct Sink {
    source: String,
    expect: Expect,
    /// Bytes pushed so far: what the tensors together may claim at most.
    received: u64,
    claimed: u64,
    f32_bytes: Option<u64>,
    tensors: BTreeMap<String, TensorF32>,
}

impl Sink {
    fn error(&self, kind: WeightErrorKind) -> WeightError {
        WeightError::new(&self.source, kind)
    }

    /// Checks the file's description of its tensors: their types and
    /// ranks, their count, their shapes against the architecture expected,
    /// and room for their f32 values, before any value is converted.
    fn index<'a>(
        &mut self,
        entries: impl Iterator<Item = (&'a str, StoredDType, &'a [usize])>,
    ) -> Result<(), WeightErrorKind> {
        let mut shapes: BTreeMap<&str, &[usize]> = BTreeMap::new();
        let (mut stored, mut f32_bytes) = (0u64, 0u64);
        for (key, dtype, shape) in entries {
            check_kind(key, dtype, shape)?;
            let numel = shape
                .iter()
                .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
                .unwrap_or(u64::MAX);
            stored = stored.saturating_add(numel.saturating_mul(dtype.size_bytes() as u64));
            f32_bytes = f32_bytes.saturating_add(numel.saturating_mul(4));
            // Two names for one tensor would make the result depend on the
            // order the tensors are read in.
            let name = strip_wrapper_prefixes(key);
            if shapes.insert(name, shape).is_some() {
                return Err(WeightErrorKind::NoStateDict(format!(
                    "two tensors are named '{}'",
                    name.chars().take(120).collect::<String>()
                )));
            }
            if shapes.len() > MAX_TENSORS {
                return Err(WeightErrorKind::TooManyTensors(MAX_TENSORS));
            }
        }
        if stored > MAX_FILE_BYTES {
            return Err(WeightErrorKind::SizeMismatch {
                key: "the tensors together".into(),
                claimed: stored,
                actual: MAX_FILE_BYTES,
            });
        }
        if let Expect::Shapes(check) = &self.expect {
            check(&shapes)?;
        }
        // Asking for all the room at once turns a model that cannot fit into
        // an error here, instead of a failed allocation part-way (which
        // ends a wasm worker). The room is given back and used as tensors arrive.
        let mut room: Vec<u8> = Vec::new();
        usize::try_from(f32_bytes)
            .ok()
            .and_then(|bytes| room.try_reserve_exact(bytes).ok())
            .ok_or(WeightErrorKind::NoRoom { needed: f32_bytes })?;
        self.f32_bytes = Some(f32_bytes);
        Ok(())
    }

    /// Converts one tensor whose bytes are all in.
    fn tensor(&mut self, key: &str, slot: TensorSlot) -> Result<(), WeightErrorKind> {
        slot.check(key)?;
        // Views that share or overlap storage are each read in full: together
        // they may claim no more than the file has held so far.
        self.claimed = self.claimed.saturating_add(slot.stored_bytes());
        if self.claimed > self.received {
            return Err(WeightErrorKind::SizeMismatch {
                key: format!("{key} (the tensors together)"),
                claimed: self.claimed,
                actual: self.received,
            });
        }
        self.tensors
            .insert(strip_wrapper_prefixes(key).to_string(), slot.to_f32());
        Ok(())
    }
}

/// Room for `size` bytes, or the error that says it could not be had.
fn reserve(buffer: &mut Vec<u8>, size: u64) -> Result<(), WeightErrorKind> {
    usize::try_from(size)
        .ok()
        .and_then(|size| buffer.try_reserve_exact(size).ok())
        .ok_or(WeightErrorKind::NoRoom { needed: size })
}

#[derive(Default)]
struct SafetensorsStream {
    /// The length prefix and the header, until the header is read.
    head: Vec<u8>,
    header_read: bool,
    /// The tensors in the order of their bytes; `next` is the one being filled.
    tensors: Vec<HeaderEntry>,
    next: usize,
    /// Data bytes passed so far.
    position: u64,
    filling: Vec<u8>,
}

impl SafetensorsStream {
    fn push(&mut self, mut bytes: &[u8], sink: &mut Sink) -> Result<(), WeightErrorKind> {
        if !self.header_read {
            bytes = self.read_head(bytes, sink)?;
            if !self.header_read {
                return Ok(());
            }
        }
        loop {
            self.complete_filled(sink)?;
            if bytes.is_empty() {
                return Ok(());
            }
            let Some(tensor) = self.tensors.get(self.next) else {
                // Past the last tensor: nothing more is read.
                self.position += bytes.len() as u64;
                return Ok(());
            };
            let (target, filling) = if self.position < tensor.begin {
                (tensor.begin, false)
            } else {
                (tensor.end, true)
            };
            let n = (target - self.position).min(bytes.len() as u64) as usize;
            if filling {
                if self.filling.is_empty() {
                    reserve(&mut self.filling, tensor.end - tensor.begin)?;
                }
                self.filling.extend_from_slice(&bytes[..n]);
            }
            self.position += n as u64;
            bytes = &bytes[n..];
        }
    }

    /// Collects the length prefix and header; returns the bytes after them.
    fn read_head<'b>(&mut self, mut bytes: &'b [u8], sink: &mut Sink) -> Result<&'b [u8], WeightErrorKind> {
        let mut fill_to = |head: &mut Vec<u8>, wanted: usize| {
            let take = wanted.saturating_sub(head.len()).min(bytes.len());
            head.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            head.len() >= wanted
        };
        if !fill_to(&mut self.head, 8) {
            return Ok(bytes);
        }
        let prefix = self.head[..8].try_into().expect("8 bytes");
        let wanted = 8 + safetensors::header_len(prefix, MAX_FILE_BYTES - 8)? as usize;
        if !fill_to(&mut self.head, wanted) {
            return Ok(bytes);
        }
        let mut tensors = safetensors::read_header(&self.head[8..])?;
        self.head = Vec::new();
        for t in &tensors {
            // A shape that claims more or fewer bytes than its range holds is
            // refused before room is asked for it.
            let claimed = TensorSlot {
                dtype: t.dtype,
                shape: t.shape.clone(),
                placement: Placement::Dense(&[]),
            }
            .stored_bytes();
            if claimed != t.end - t.begin {
                return Err(WeightErrorKind::SizeMismatch {
                    key: t.key.clone(),
                    claimed,
                    actual: t.end - t.begin,
                });
            }
        }
        sink.index(tensors.iter().map(|t| (t.key.as_str(), t.dtype, t.shape.as_slice())))?;
        tensors.sort_by_key(|t| (t.begin, t.end));
        self.tensors = tensors;
        self.header_read = true;
        Ok(bytes)
    }

    /// Converts every tensor whose bytes are all in.
    fn complete_filled(&mut self, sink: &mut Sink) -> Result<(), WeightErrorKind> {
        while let Some(tensor) = self.tensors.get(self.next)
            && self.position >= tensor.end
            && self.position >= tensor.begin
        {
            let slot = TensorSlot {
                dtype: tensor.dtype,
                shape: tensor.shape.clone(),
                placement: Placement::Dense(&self.filling),
            };
            sink.tensor(&tensor.key, slot)?;
            self.filling.clear();
            self.next += 1;
        }
        Ok(())
    }

    fn finish(self) -> Result<(), WeightErrorKind> {
        if !self.header_read {
            let Some(prefix) = self.head.get(..8) else {
                return Err(WeightErrorKind::SafetensorsHeader(
                    "file shorter than its 8-byte length prefix".into(),
                ));
            };
            let available = self.head.len() as u64 - 8;
            safetensors::header_len(prefix.try_into().expect("8 bytes"), available)?;
            return Err(WeightErrorKind::SafetensorsHeader("the header is cut short".into()));
        }
        match self.tensors.get(self.next) {
            Some(tensor) => Err(WeightErrorKind::SizeMismatch {
                key: tensor.key.clone(),
                claimed: tensor.end,
                actual: self.position,
            }),
            None => Ok(()),
        }
    }
}

/// A storage's size as the pickle gives it, and the tensors that view it.
struct StorageViews {
    size: u64,
    views: Vec<(String, Rc<TensorRef>)>,
}

/// Where a `.pth` archive stream is.
#[derive(Default)]
enum Zip {
    /// At the start of a record.
    #[default]
    Header,
    /// In an entry's data.
    Data(Entry),
    /// After an entry's data, at its data descriptor.
    Descriptor(Entry),
    /// In the central directory and the end records.
    Tail,
}

/// The entry being read.
struct Entry {
    name: String,
    header_offset: u64,
    /// The CRC and size from the local header, when no descriptor follows.
    declared: Option<(u32, u64)>,
    /// Its size, when known: declared, or (for a storage) from the pickle.
    size: Option<u64>,
    /// Whether its bytes are kept (the pickle, storages, the byte order).
    keep: bool,
    bytes: Vec<u8>,
    crc: crc32fast::Hasher,
    read: u64,
}

impl Entry {
    fn take(&mut self, bytes: &[u8]) {
        self.crc.update(bytes);
        if self.keep {
            self.bytes.extend_from_slice(bytes);
        }
        self.read += bytes.len() as u64;
    }
}

#[derive(Default)]
struct PthStream {
    /// Bytes not yet read, from file offset `offset`.
    pending: Vec<u8>,
    offset: u64,
    state: Zip,
    /// What precedes `data.pkl` in its entry's name, once the pickle is read.
    prefix: Option<String>,
    /// The storages the pickle's tensors view, by storage key, until read.
    storages: BTreeMap<String, StorageViews>,
    /// Entries that may be storages, read before the pickle: only in
    /// archives that `torch.save` did not write.
    parked: Vec<(String, Vec<u8>)>,
    /// Byte-order entries, by name: whether each says little-endian.
    byte_orders: Vec<(String, bool)>,
    /// The entries read, as their local headers and descriptors describe them.
    read: Vec<CentralEntry>,
    tail: Vec<u8>,
    tail_offset: u64,
}

const DESCRIPTOR_SIGNATURE: &[u8] = b"PK\x07\x08";

impl PthStream {
    fn push(&mut self, bytes: &[u8], sink: &mut Sink) -> Result<(), WeightErrorKind> {
        if self.pending.is_empty() {
            // Read straight from the new bytes; only what is left waits.
            let mut at = 0;
            while let Some(n) = self.step(&bytes[at..], self.offset + at as u64, sink)? {
                at += n;
            }
            self.offset += at as u64;
            self.pending.extend_from_slice(&bytes[at..]);
            return Ok(());
        }
        let mut pending = std::mem::take(&mut self.pending);
        pending.extend_from_slice(bytes);
        let mut at = 0;
        while let Some(n) = self.step(&pending[at..], self.offset + at as u64, sink)? {
            at += n;
        }
        pending.drain(..at);
        self.offset += at as u64;
        self.pending = pending;
        Ok(())
    }

    /// Reads what it can from the start of `input` (at file offset
    /// `position`): the bytes used, or `None` when more are needed.
    fn step(&mut self, input: &[u8], position: u64, sink: &mut Sink) -> Result<Option<usize>, WeightErrorKind> {
        match std::mem::take(&mut self.state) {
            Zip::Tail => {
                self.state = Zip::Tail;
                self.tail.extend_from_slice(input);
                Ok((!input.is_empty()).then_some(input.len()))
            }
            Zip::Header => self.record(input, position),
            Zip::Data(entry) => match entry.size {
                Some(size) => self.sized_data(entry, size, input, sink),
                None => self.data_to_descriptor(entry, input, sink),
            },
            Zip::Descriptor(entry) => self.descriptor(entry, input, sink),
        }
    }

    /// At the start of a record: a local header opens an entry, the central
    /// directory starts the tail.
    fn record(&mut self, input: &[u8], position: u64) -> Result<Option<usize>, WeightErrorKind> {
        match zip::next_record(input)? {
            NextRecord::Incomplete => Ok(None),
            NextRecord::Directory => {
                self.state = Zip::Tail;
                self.tail_offset = position;
                Ok(Some(0))
            }
            NextRecord::Local(header) => {
                if self.read.len() >= zip::MAX_ENTRIES {
                    return Err(damaged(format!(
                        "the archive holds more than {} entries",
                        zip::MAX_ENTRIES
                    )));
                }
                self.state = Zip::Data(self.open(header.name, header.declared, position)?);
                Ok(Some(header.len))
            }
        }
    }

    /// An entry's data of known `size`: once all of it is in, the entry is
    /// complete, or its data descriptor comes next.
    fn sized_data(
        &mut self,
        mut entry: Entry,
        size: u64,
        input: &[u8],
        sink: &mut Sink,
    ) -> Result<Option<usize>, WeightErrorKind> {
        let n = (size - entry.read).min(input.len() as u64) as usize;
        entry.take(&input[..n]);
        if entry.read == size {
            if entry.declared.is_some() {
                let crc = entry.crc.clone().finalize();
                self.complete(entry, crc, sink)?;
            } else {
                self.state = Zip::Descriptor(entry);
            }
            return Ok(Some(n));
        }
        self.state = Zip::Data(entry);
        Ok((n > 0).then_some(n))
    }

    /// An entry's data of unknown size: it ends at a data descriptor that
    /// matches the bytes read.
    fn data_to_descriptor(
        &mut self,
        mut entry: Entry,
        input: &[u8],
        sink: &mut Sink,
    ) -> Result<Option<usize>, WeightErrorKind> {
        let taken = match find(input, DESCRIPTOR_SIGNATURE) {
            // A signature inside the data is passed over.
            Some(0) if input.len() >= DESCRIPTOR_LOOKAHEAD => {
                let crc = entry.crc.clone().finalize();
                if let Some(n) = zip::data_descriptor(input, crc, entry.read) {
                    self.complete(entry, crc, sink)?;
                    return Ok(Some(n));
                }
                entry.take(&input[..1]);
                1
            }
            Some(0) => 0,
            Some(q) => {
                entry.take(&input[..q]);
                q
            }
            None => {
                // The last bytes may open a signature.
                let n = input.len().saturating_sub(DESCRIPTOR_SIGNATURE.len() - 1);
                entry.take(&input[..n]);
                n
            }
        };
        self.state = Zip::Data(entry);
        Ok((taken > 0).then_some(taken))
    }

    /// The data descriptor after an entry's data of known size.
    fn descriptor(&mut self, entry: Entry, input: &[u8], sink: &mut Sink) -> Result<Option<usize>, WeightErrorKind> {
        let crc = entry.crc.clone().finalize();
        match zip::data_descriptor(input, crc, entry.read) {
            Some(n) => {
                self.complete(entry, crc, sink)?;
                Ok(Some(n))
            }
            None if input.len() >= DESCRIPTOR_LOOKAHEAD => Err(damaged(format!(
                "{}: its data does not end where its size says, or its checksum does not match",
                entry.name
            ))),
            None => {
                self.state = Zip::Descriptor(entry);
                Ok(None)
            }
        }
    }

    /// The first entry named like a pickle: the archive's one pickle.
    fn is_pickle(&self, name: &str) -> bool {
        self.prefix.is_none() && (name == "data.pkl" || name.ends_with("/data.pkl"))
    }

    fn is_byte_order(&self, name: &str) -> bool {
        name == "byteorder" || name.ends_with("/byteorder")
    }

    /// The storage key of an entry the pickle's tensors view.
    fn storage_key<'n>(&self, name: &'n str) -> Option<&'n str> {
        let key = name.strip_prefix(self.prefix.as_deref()?)?.strip_prefix("data/")?;
        self.storages.contains_key(key).then_some(key)
    }

    fn open(&self, name: String, declared: Option<(u32, u64)>, header_offset: u64) -> Result<Entry, WeightErrorKind> {
        let storage = self.storage_key(&name).map(|key| self.storages[key].size);
        // Before the pickle, any entry might be a storage.
        let maybe_storage = self.prefix.is_none() && name.contains("data/");
        let keep = self.is_pickle(&name) || self.is_byte_order(&name) || storage.is_some() || maybe_storage;
        let size = declared.map(|(_, size)| size).or(storage);
        if size.is_some_and(|size| size > MAX_FILE_BYTES) {
            return Err(damaged(format!("{name}: its size is beyond any weight file")));
        }
        let mut bytes = Vec::new();
        if keep && let Some(size) = size {
            reserve(&mut bytes, size)?;
        }
        Ok(Entry {
            name,
            header_offset,
            declared,
            size,
            keep,
            bytes,
            crc: crc32fast::Hasher::new(),
            read: 0,
        })
    }

    /// An entry is read whole, with `crc`: it is used for what it is.
    fn complete(&mut self, entry: Entry, crc: u32, sink: &mut Sink) -> Result<(), WeightErrorKind> {
        if entry.declared.is_some_and(|(declared, _)| declared != crc) {
            return Err(damaged(format!(
                "{}: its checksum does not match (the file is corrupt)",
                entry.name
            )));
        }
        self.read.push(CentralEntry {
            name: entry.name.clone(),
            crc32: crc,
            size: entry.read,
            header_offset: entry.header_offset,
        });
        let names_a_pickle = entry.name == "data.pkl" || entry.name.ends_with("/data.pkl");
        if self.prefix.is_some() && names_a_pickle {
            return Err(damaged("the archive holds more than one pickle"));
        }
        if self.is_pickle(&entry.name) {
            self.read_pickle(&entry.name, &entry.bytes, sink)
        } else if self.is_byte_order(&entry.name) {
            self.byte_orders.push((entry.name, entry.bytes == b"little"));
            self.check_byte_order()
        } else if let Some(key) = self.storage_key(&entry.name) {
            let key = key.to_string();
            self.convert(&key, &entry.bytes, sink)
        } else {
            if entry.keep && self.prefix.is_none() {
                self.parked.push((entry.name, entry.bytes));
            }
            Ok(())
        }
    }

    fn read_pickle(&mut self, name: &str, bytes: &[u8], sink: &mut Sink) -> Result<(), WeightErrorKind> {
        let pickle = read_pickle(bytes)?;
        let entries = state_dict_entries(&pickle)?;
        // Views that share storage are each read in full: together they may
        // claim no more than the storages they view hold.
        let mut storage_bytes = BTreeMap::new();
        let mut claimed = 0u64;
        for (_, t) in &entries {
            let stored = |numel: u64, dtype: StoredDType| numel.saturating_mul(dtype.size_bytes() as u64);
            let numel = t
                .shape
                .iter()
                .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
                .unwrap_or(u64::MAX);
            claimed = claimed.saturating_add(stored(numel, t.storage.dtype));
            storage_bytes.insert(&t.storage.key, stored(t.storage.numel as u64, t.storage.dtype));
        }
        let held = storage_bytes.values().fold(0u64, |a, &b| a.saturating_add(b));
        if claimed > held {
            return Err(WeightErrorKind::SizeMismatch {
                key: "the tensors together".into(),
                claimed,
                actual: held,
            });
        }
        sink.index(
            entries
                .iter()
                .map(|(k, t)| (k.as_str(), t.storage.dtype, t.shape.as_slice())),
        )?;
        for (key, tensor) in entries {
            let storage = &tensor.storage;
            let size = (storage.numel as u64).saturating_mul(storage.dtype.size_bytes() as u64);
            self.storages
                .entry(storage.key.clone())
                .or_insert(StorageViews {
                    size,
                    views: Vec::new(),
                })
                .views
                .push((key, tensor));
        }
        self.prefix = Some(name.trim_end_matches("data.pkl").to_string());
        self.check_byte_order()?;
        for (name, bytes) in std::mem::take(&mut self.parked) {
            if let Some(key) = self.storage_key(&name) {
                let key = key.to_string();
                self.convert(&key, &bytes, sink)?;
            }
        }
        Ok(())
    }

    /// The archive's `byteorder`, once the pickle says which entry it is.
    fn check_byte_order(&self) -> Result<(), WeightErrorKind> {
        let Some(prefix) = &self.prefix else {
            return Ok(());
        };
        let name = format!("{prefix}byteorder");
        match self.byte_orders.iter().find(|(n, _)| *n == name) {
            Some((_, false)) => Err(WeightErrorKind::BigEndian),
            _ => Ok(()),
        }
    }

    fn convert(&mut self, key: &str, storage: &[u8], sink: &mut Sink) -> Result<(), WeightErrorKind> {
        let Some(StorageViews { views, .. }) = self.storages.remove(key) else {
            return Ok(());
        };
        for (name, tensor) in views {
            sink.tensor(&name, storage_view(&name, &tensor, storage)?)?;
        }
        Ok(())
    }

    fn finish(self) -> Result<(), WeightErrorKind> {
        if !matches!(self.state, Zip::Tail) {
            return Err(damaged("the file ends before its central directory (it is truncated)"));
        }
        let (listed, _) = zip::central_directory(&self.tail, self.tail_offset)?;
        // The whole-file reader goes by the directory (the first entry of a
        // name): it must list exactly what was read.
        let first_of_each = |entries: &[CentralEntry]| {
            let mut map = BTreeMap::new();
            for e in entries {
                map.entry(e.name.clone()).or_insert_with(|| e.clone());
            }
            map
        };
        if first_of_each(&listed) != first_of_each(&self.read) {
            return Err(damaged(
                "the central directory does not list the entries the archive holds",
            ));
        }
        let Some(prefix) = &self.prefix else {
            return Err(WeightErrorKind::MissingArchiveEntry("data.pkl".into()));
        };
        if let Some(key) = self.storages.keys().next() {
            return Err(WeightErrorKind::MissingArchiveEntry(format!("{prefix}data/{key}")));
        }
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
