//! Reading checkpoints: `.pth` (restricted pickle, never executed) and
//! `.safetensors`, in f32, f16 or bf16, into one f32 state dict.

mod error;
mod generated;
mod pickle;
mod pth;
mod safetensors;
mod tensor;

pub use error::{WeightError, WeightErrorKind};
pub use safetensors::{Written as WrittenSafetensors, write_safetensors};
pub use tensor::{StoredDType, TensorF32};

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Prefixes that wrappers add to every key: DataParallel / EMA (`module.`),
/// `torch.compile` (`_orig_mod.`).
const WRAPPER_PREFIXES: [&str; 2] = ["module.", "_orig_mod."];

/// A checkpoint's tensors by their (normalised) PyTorch names.
#[derive(Debug, Clone, PartialEq)]
pub struct StateDict {
    /// Where it came from, for messages.
    pub source: String,
    pub tensors: BTreeMap<String, TensorF32>,
}

impl StateDict {
    /// Reads a weight file from its bytes; `source` names it in errors.
    pub fn from_bytes(bytes: &[u8], source: &str) -> Result<Self, WeightError> {
        let fail = |kind| WeightError::new(source, kind);
        if bytes.is_empty() {
            return Err(fail(WeightErrorKind::Empty));
        }
        let tensors = if bytes.starts_with(b"PK\x03\x04") {
            pth::read_pth(bytes)
        } else if bytes.starts_with(b"\x80\x02\x8a") {
            // The legacy format opens with a pickled magic number.
            Err(WeightErrorKind::LegacyTorchFormat)
        } else if safetensors::looks_like_safetensors(bytes) {
            safetensors::read_safetensors(bytes)
        } else if bytes.starts_with(b"PK") {
            Err(WeightErrorKind::DamagedArchive("the zip header is damaged".into()))
        } else {
            Err(WeightErrorKind::UnknownFormat)
        }
        .map_err(fail)?;
        Ok(Self {
            source: source.to_string(),
            tensors: tensors
                .into_iter()
                .map(|(k, v)| (strip_wrapper_prefixes(&k).to_string(), v))
                .collect(),
        })
    }

    /// Reads a weight file from disk.
    pub fn from_file(path: &std::path::Path) -> Result<Self, WeightError> {
        let source = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| WeightError::new(&source, WeightErrorKind::Io(e.to_string())))?;
        Self::from_bytes(&bytes, &source)
    }

    pub fn get(&self, key: &str) -> Option<&TensorF32> {
        self.tensors.get(key)
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

/// Checks `bytes` against an expected sha256 (hex, any case).
pub fn verify_sha256(bytes: &[u8], expected: &str, source: &str) -> Result<(), WeightError> {
    let actual = sha256_hex(bytes);
    if actual.eq_ignore_ascii_case(expected.trim()) {
        Ok(())
    } else {
        Err(WeightError::new(
            source,
            WeightErrorKind::Sha256Mismatch {
                expected: expected.trim().to_ascii_lowercase(),
                actual,
            },
        ))
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
        assert!(
            verify_sha256(
                b"abc",
                "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
                "f"
            )
            .is_ok()
        );
        assert!(
            verify_sha256(
                b"abd",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                "f"
            )
            .is_err()
        );
    }
}
