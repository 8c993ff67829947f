//! Everything that can be wrong with a weight file, each naming what is wrong.

use std::fmt;

/// A weight-file failure, with the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightError {
    pub file: String,
    pub kind: WeightErrorKind,
}

impl WeightError {
    pub fn new(file: impl Into<String>, kind: WeightErrorKind) -> Self {
        Self {
            file: file.into(),
            kind,
        }
    }
}

impl fmt::Display for WeightError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.kind)
    }
}

impl std::error::Error for WeightError {}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeightErrorKind {
    #[error("cannot read the file ({0})")]
    Io(String),
    #[error("the file is empty")]
    Empty,
    #[error("the file is {0} bytes; weight files are read up to {max} GiB", max = super::MAX_FILE_BYTES >> 30)]
    FileTooLarge(u64),
    #[error("not a weight file: expected a PyTorch .pth (zip archive) or a .safetensors file")]
    UnknownFormat,
    #[error("this is PyTorch's legacy (pre-1.6, non-zip) checkpoint format; re-save it with a current torch.save")]
    LegacyTorchFormat,
    #[error("the file is truncated or its archive is damaged ({0})")]
    DamagedArchive(String),
    #[error("the archive has no entry '{0}'")]
    MissingArchiveEntry(String),
    #[error("entries in this archive are compressed ({0}); torch.save writes them uncompressed")]
    CompressedEntry(String),
    #[error("the checkpoint is stored big-endian, which is not supported")]
    BigEndian,
    #[error(
        "the pickle refers to '{module}.{name}', which is not allowed in a weight file (nothing in it is executed)"
    )]
    ForbiddenGlobal { module: String, name: String },
    #[error("the pickle uses opcode 0x{opcode:02x} at byte {position}, which a tensor state dict never needs")]
    ForbiddenOpcode { opcode: u8, position: usize },
    #[error("the pickle is malformed at byte {position}: {detail}")]
    MalformedPickle { position: usize, detail: String },
    #[error("no state dict found: {0}")]
    NoStateDict(String),
    #[error("'{key}' claims {claimed} bytes but the file holds {actual}")]
    SizeMismatch { key: String, claimed: u64, actual: u64 },
    #[error("safetensors header: {0}")]
    SafetensorsHeader(String),
    #[error("'{key}' has storage type {dtype}; model weights are floating point (f32, f16, bf16 or f64)")]
    UnsupportedDType { key: String, dtype: String },
    #[error("missing weights: {}", key_list(.0))]
    MissingKeys(Vec<String>),
    #[error("unexpected weights: {}", key_list(.0))]
    UnexpectedKeys(Vec<String>),
    #[error("'{key}' has shape {found:?}, the architecture needs {expected:?}")]
    ShapeMismatch {
        key: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("'{key}' holds {count} non-finite values (NaN or infinity)")]
    NonFinite { key: String, count: usize },
    /// The caller's network refused the names or shapes (its message).
    #[error("not a usable ConvNeXt checkpoint: {0}")]
    Architecture(String),
    #[error("the file holds more than {0} tensors, far more than a model's state dict")]
    TooManyTensors(usize),
    #[error("'{key}' has {rank} dimensions; weights have at most {max}")]
    TooManyDimensions { key: String, rank: usize, max: usize },
    /// Room for the f32 weights could not be had (wasm's memory, a browser's budget).
    #[error("there is not enough memory for its weights ({} MB as f32)", needed.div_ceil(1 << 20))]
    NoRoom { needed: u64 },
    #[error("sha256 is {actual}, the manifest expects {expected}")]
    Sha256Mismatch { expected: String, actual: String },
}

/// Keys for a message: the first few, then how many more.
fn key_list(keys: &[String]) -> String {
    const SHOWN: usize = 12;
    let mut list = keys.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if keys.len() > SHOWN {
        list.push_str(&format!(" and {} more", keys.len() - SHOWN));
    }
    list
}
