//! Reading checkpoints: `.pth` (restricted pickle, never executed) and
//! `.safetensors`, in f32, f16 or bf16, into one f32 state dict.

mod error;
mod le_bytes;
pub mod pickle;
mod pth;
mod safetensors;
mod stream;
mod tensor;
pub mod zip;

pub use error::{WeightError, WeightErrorKind};
pub use safetensors::{Written as WrittenSafetensors, write_safetensors};
pub use stream::{Expect, ShapeCheck, WeightStream};
pub use tensor::{StoredDType, TensorF32, TensorSlot};

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Prefixes that wrappers add to every key: DataParallel / EMA (`module.`),
/// `torch.compile` (`_orig_mod.`).
const WRAPPER_PREFIXES: [&str; 2] = ["module.", "_orig_mod."];

/// Weight files above this are refused before they are read: one member
/// of the largest architecture allowed is 4 GiB of f32.
pub const MAX_FILE_BYTES: u64 = 4 << 30;

/// The two weight file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileFormat {
    Pth,
    Safetensors,
}

/// Bytes a file's format is told from (a safetensors header opens at byte 8).
const SNIFF_BYTES: usize = 9;

/// A weight file's format from its first [`SNIFF_BYTES`] bytes (or the
/// whole of a shorter file), else why it is none.
fn sniff(first: &[u8]) -> Result<FileFormat, WeightErrorKind> {
    if first.starts_with(b"PK\x03\x04") {
        Ok(FileFormat::Pth)
    } else if first.starts_with(b"\x80\x02\x8a") {
        // The legacy format opens with a pickled magic number.
        Err(WeightErrorKind::LegacyTorchFormat)
    } else if safetensors::looks_like_safetensors(first) {
        Ok(FileFormat::Safetensors)
    } else if first.starts_with(b"PK") {
        Err(WeightErrorKind::DamagedArchive("the zip header is damaged".into()))
    } else {
        Err(WeightErrorKind::UnknownFormat)
    }
}

/// Tensors in one state dict at most (convnext_base has 344).
pub const MAX_TENSORS: usize = 4096;
/// Dimensions of one tensor at most.
pub const MAX_RANK: usize = 8;

/// Each tensor's shape by name.
pub type TensorShapes<'a> = BTreeMap<&'a str, &'a [usize]>;

/// A checkpoint's tensors as the file describes them, checked against the
/// file but not yet read: shapes can be checked against an architecture
/// before a single value is converted.
pub struct CheckpointIndex<'a> {
    pub source: String,
    pub tensors: BTreeMap<String, TensorSlot<'a>>,
}

impl<'a> CheckpointIndex<'a> {
    /// Indexes a weight file held in memory; `source` names it in errors.
    pub fn parse(bytes: &'a [u8], source: &str) -> Result<Self, WeightError> {
        let fail = |kind| WeightError::new(source, kind);
        if bytes.is_empty() {
            return Err(fail(WeightErrorKind::Empty));
        }
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(fail(WeightErrorKind::FileTooLarge(bytes.len() as u64)));
        }
        let slots = match sniff(bytes).map_err(fail)? {
            FileFormat::Pth => pth::index_pth(bytes),
            FileFormat::Safetensors => safetensors::index_safetensors(bytes),
        }
        .map_err(fail)?;
        let mut tensors = BTreeMap::new();
        let mut claimed = 0u64;
        for (key, slot) in slots {
            slot.check(&key).map_err(fail)?;
            // Views that share or overlap storage would each be read in
            // full: together they may claim no more than the file holds.
            claimed = claimed.saturating_add(slot.stored_bytes());
            if claimed > bytes.len() as u64 {
                return Err(fail(WeightErrorKind::SizeMismatch {
                    key: format!("{key} (the tensors together)"),
                    claimed,
                    actual: bytes.len() as u64,
                }));
            }
            tensors.insert(strip_wrapper_prefixes(&key).to_string(), slot);
            if tensors.len() > MAX_TENSORS {
                return Err(fail(WeightErrorKind::TooManyTensors(MAX_TENSORS)));
            }
        }
        Ok(Self {
            source: source.to_string(),
            tensors,
        })
    }

    pub fn shapes(&self) -> TensorShapes<'_> {
        self.tensors
            .iter()
            .map(|(k, t)| (k.as_str(), t.shape.as_slice()))
            .collect()
    }

    pub fn error(&self, kind: WeightErrorKind) -> WeightError {
        WeightError::new(&self.source, kind)
    }

    /// Converts every tensor to f32.
    pub fn materialise(self) -> StateDict {
        StateDict {
            source: self.source,
            tensors: self.tensors.into_iter().map(|(k, slot)| (k, slot.to_f32())).collect(),
        }
    }
}

/// A checkpoint's tensors by their (normalised) PyTorch names.
#[derive(Debug, Clone, PartialEq)]
pub struct StateDict {
    /// Where it came from, for messages.
    pub source: String,
    pub tensors: BTreeMap<String, TensorF32>,
}

impl StateDict {
    /// Reads every tensor of a weight file from its bytes; `source` names it
    /// in errors. Nothing is checked against a network: models load
    /// through `chexlens_checkpoints::architecture::read_weights`.
    pub fn from_bytes(bytes: &[u8], source: &str) -> Result<Self, WeightError> {
        Self::read(bytes, source, Expect::Anything)
    }

    /// Reads a weight file held whole, its index checked against `expect`
    /// before any value is converted; the same reader as one that streams in.
    pub fn read(bytes: &[u8], source: &str, expect: Expect) -> Result<Self, WeightError> {
        let mut stream = WeightStream::new(source, expect);
        stream.push(bytes)?;
        stream.finish()
    }

    /// Reads a weight file from disk.
    pub fn from_file(path: &std::path::Path) -> Result<Self, WeightError> {
        let source = path.display().to_string();
        let file =
            std::fs::File::open(path).map_err(|e| WeightError::new(&source, WeightErrorKind::Io(e.to_string())))?;
        read_streamed(file, &source, Expect::Anything, None)
    }

    pub fn get(&self, key: &str) -> Option<&TensorF32> {
        self.tensors.get(key)
    }

    pub fn shapes(&self) -> TensorShapes<'_> {
        self.tensors
            .iter()
            .map(|(k, t)| (k.as_str(), t.shape.as_slice()))
            .collect()
    }

    /// Every value finite, else the first key that is not.
    pub fn check_finite(&self) -> Result<(), WeightError> {
        for (key, tensor) in &self.tensors {
            let count = tensor.data.iter().filter(|v| !v.is_finite()).count();
            if count > 0 {
                return Err(self.error(WeightErrorKind::NonFinite {
                    key: key.clone(),
                    count,
                }));
            }
        }
        Ok(())
    }

    pub fn error(&self, kind: WeightErrorKind) -> WeightError {
        WeightError::new(&self.source, kind)
    }
}

fn strip_wrapper_prefixes(mut key: &str) -> &str {
    while let Some(rest) = WRAPPER_PREFIXES.iter().find_map(|p| key.strip_prefix(p)) {
        key = rest;
    }
    key
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A sha256 computed as a file streams in, checked at its end.
pub struct Sha256Check {
    expected: String,
    hasher: Sha256,
}

impl Sha256Check {
    /// `expected` in hex, any case.
    pub fn new(expected: &str) -> Self {
        Self {
            expected: expected.trim().to_ascii_lowercase(),
            hasher: Sha256::new(),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
    }

    pub fn verify(self, source: &str) -> Result<(), WeightError> {
        let actual: String = self.hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        if actual == self.expected {
            Ok(())
        } else {
            Err(WeightError::new(
                source,
                WeightErrorKind::Sha256Mismatch {
                    expected: self.expected,
                    actual,
                },
            ))
        }
    }
}

/// Pieces a file is read in: one piece, not the file, is held at a time.
pub const READ_PIECE_BYTES: usize = 8 << 20;

/// Reads a weight file from `reader` in pieces, checking its sha256 when
/// one is given. A file whose checksum is wrong is reported as such, even
/// where it also fails to parse: the checksum says why.
pub fn read_streamed(
    mut reader: impl std::io::Read,
    source: &str,
    expect: Expect,
    sha256: Option<&str>,
) -> Result<StateDict, WeightError> {
    let mut stream = WeightStream::new(source, expect);
    let mut check = sha256.map(Sha256Check::new);
    let mut piece = vec![0u8; READ_PIECE_BYTES];
    let mut parse_error = None;
    loop {
        let n = match reader.read(&mut piece) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(WeightError::new(source, WeightErrorKind::Io(e.to_string()))),
        };
        if let Some(check) = &mut check {
            check.update(&piece[..n]);
        } else if parse_error.is_some() {
            break;
        }
        if parse_error.is_none()
            && let Err(e) = stream.push(&piece[..n])
        {
            parse_error = Some(e);
        }
    }
    if let Some(check) = check {
        check.verify(source)?;
    }
    match parse_error {
        Some(e) => Err(e),
        None => stream.finish(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_nested_wrapper_prefixes() {
        assert_eq!(
            strip_wrapper_prefixes("module._orig_mod.classifier.weight"),
            "classifier.weight"
        );
        assert_eq!(strip_wrapper_prefixes("classifier.weight"), "classifier.weight");
    }

    #[test]
    fn rejects_empty_and_unknown_files() {
        assert_eq!(
            StateDict::from_bytes(b"", "x").unwrap_err().kind,
            WeightErrorKind::Empty
        );
        let err = StateDict::from_bytes(b"GIF89a not weights", "x.pth").unwrap_err();
        assert_eq!(err.kind, WeightErrorKind::UnknownFormat);
        assert_eq!(err.file, "x.pth");
    }

    #[test]
    fn sha256_matches_known_digest() {
        // sha256("abc") from FIPS 180-2, appendix B.1.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // Checked as it streams in, in pieces, against any case of hex.
        let check = |pieces: &[&[u8]], expected: &str| {
            let mut check = Sha256Check::new(expected);
            pieces.iter().for_each(|p| check.update(p));
            check.verify("f")
        };
        assert!(
            check(
                &[b"a", b"bc"],
                "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"
            )
            .is_ok()
        );
        let err = check(
            &[b"abd"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        )
        .unwrap_err();
        assert!(matches!(err.kind, WeightErrorKind::Sha256Mismatch { .. }));
    }
}
