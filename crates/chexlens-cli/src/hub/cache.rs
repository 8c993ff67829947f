//! The Hugging Face cache on disk, in `huggingface_hub`'s layout, so that
//! files fetched by Python are used here and the other way round:
//!
//! ```text
//! $HF_HUB_CACHE (else $HF_HOME/hub, else ~/.cache/huggingface/hub)
//!   models--OWNER--NAME/
//!     refs/REVISION                 the commit the revision last resolved to
//!     blobs/SHA256 (or git blob id) each file once, by content
//!     blobs/SHA256.incomplete       a download under way or interrupted
//!     snapshots/COMMIT/PATH         a relative symlink to its blob
//! ```

use chexlens_hub::{HubRepo, is_commit, is_safe_path};
use std::path::{Path, PathBuf};

/// Files listed from a snapshot at most: a model snapshot holds a handful.
const MAX_SNAPSHOT_FILES: usize = 10_000;
const MAX_SNAPSHOT_DEPTH: usize = 16;

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
pub fn hf_home() -> PathBuf {
    env_path("HF_HOME")
        .or_else(|| env_path("XDG_CACHE_HOME").map(|d| d.join("huggingface")))
        .or_else(|| env_path("HOME").map(|d| d.join(".cache").join("huggingface")))
        .unwrap_or_else(|| PathBuf::from(".cache/huggingface"))
}

/// One repository's folder in the cache.
pub struct RepoCache {
    root: PathBuf,
}

impl RepoCache {
    pub fn open(repo: &HubRepo) -> Self {
        let hub = env_path("HF_HUB_CACHE").unwrap_or_else(|| hf_home().join("hub"));
        Self {
            root: hub.join(repo.cache_folder()),
        }
    }

    /// The commit the revision resolved to when last fetched (a commit
    /// names itself), if its snapshot is here.
    pub fn cached_commit(&self, repo: &HubRepo) -> Option<String> {
        let commit = if repo.revision_is_commit() {
            repo.revision.to_ascii_lowercase()
        } else {
            std::fs::read_to_string(self.root.join("refs").join(&repo.revision))
                .ok()?
                .trim()
                .to_string()
        };
        (is_commit(&commit) && self.snapshot(&commit).is_dir()).then_some(commit)
    }

    pub fn snapshot(&self, commit: &str) -> PathBuf {
        self.root.join("snapshots").join(commit)
    }

    /// The repository paths a snapshot holds whole (broken links left out),
    /// in name order.
    pub fn snapshot_files(&self, commit: &str) -> Vec<String> {
        let base = self.snapshot(commit);
        let mut found = Vec::new();
        let mut pending = vec![(base.clone(), 0)];
        while let Some((dir, depth)) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() && depth < MAX_SNAPSHOT_DEPTH {
                    pending.push((path, depth + 1));
                } else if path.is_file()
                    && found.len() < MAX_SNAPSHOT_FILES
                    && let Some(relative) = path.strip_prefix(&base).ok().and_then(|p| p.to_str())
                    && is_safe_path(relative)
                {
                    found.push(relative.to_string());
                }
            }
        }
        found.sort_unstable();
        found
    }

    pub fn blob(&self, blob_id: &str) -> PathBuf {
        self.root.join("blobs").join(blob_id)
    }

    pub fn incomplete(&self, blob_id: &str) -> PathBuf {
        self.root.join("blobs").join(format!("{blob_id}.incomplete"))
    }

    /// Links `snapshots/COMMIT/PATH` to its blob, as `huggingface_hub` does
    /// (a relative symlink; a copy where links cannot be made).
    pub fn link(&self, commit: &str, path: &str, blob_id: &str) -> std::io::Result<PathBuf> {
        let pointer = self.snapshot(commit).join(path);
        let parent = pointer.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(parent)?;
        let depth = path.matches('/').count() + 2;
        let target: PathBuf = std::iter::repeat_n(Path::new(".."), depth)
            .collect::<PathBuf>()
            .join("blobs")
            .join(blob_id);
        let _ = std::fs::remove_file(&pointer);
        #[cfg(unix)]
        let linked = std::os::unix::fs::symlink(&target, &pointer);
        #[cfg(not(unix))]
        let linked: std::io::Result<()> = Err(std::io::ErrorKind::Unsupported.into());
        if linked.is_err() {
            std::fs::copy(self.blob(blob_id), &pointer)?;
        }
        Ok(pointer)
    }

    /// Records the commit a branch or tag resolved to (a commit needs no ref).
    pub fn write_ref(&self, repo: &HubRepo, commit: &str) -> std::io::Result<()> {
        if repo.revision_is_commit() {
            return Ok(());
        }
        let file = self.root.join("refs").join(&repo.revision);
        std::fs::create_dir_all(file.parent().unwrap_or(&self.root))?;
        std::fs::write(file, commit)
    }

    pub fn ensure_blobs_folder(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(self.root.join("blobs"))
    }
}
