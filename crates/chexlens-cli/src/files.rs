//! Reading a user's file whole, after checking its size against the limit
//! for its kind, so that a huge file is refused before it is allocated;
//! and the folder a file lies in, for paths written relative to another.

use std::fmt;
use std::path::{Path, PathBuf};

pub enum ReadError {
    Io(std::io::Error),
    TooLarge { size: u64, limit: u64 },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "cannot read the file ({e})"),
            Self::TooLarge { size, limit } => write!(
                f,
                "the file is {size} bytes, larger than the {} MB read for its kind",
                limit >> 20
            ),
        }
    }
}

pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let size = std::fs::metadata(path).map_err(ReadError::Io)?.len();
    if size > limit {
        return Err(ReadError::TooLarge { size, limit });
    }
    std::fs::read(path).map_err(ReadError::Io)
}

/// A manifest file's text, refused when too large to be one.
pub fn read_manifest_text(path: &Path) -> Result<String, String> {
    let bytes = read_bounded(path, chexlens_checkpoints::manifest::MAX_MANIFEST_BYTES as u64)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| format!("{}: the manifest is not UTF-8 text", path.display()))
}

/// The folder a file lies in (or would), as an absolute path without links:
/// how two paths are found to share a folder.
pub fn folder_of(file: &Path) -> Result<PathBuf, String> {
    let parent = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::canonicalize(parent).map_err(|e| format!("{} ({e})", parent.display()))
}
