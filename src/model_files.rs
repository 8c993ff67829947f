//! The bytes of model files kept for offline use, in the origin private
//! file system; [`crate::model_cache`] keeps which file holds which member.
//!
//! The model worker writes each file as its download is read, through a
//! sync access handle, straight to disk. A Cache Storage body is a stream
//! that the loader fills faster than the cache stores it: for three
//! convnext_base members its queue cost the page 0.05 to 0.32 GB and the
//! load up to 7 s (`tools/bench/browser-bench --memory`).

use crate::opfs::{self, has_method, wait};
use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use web_sys::{File, FileSystemDirectoryHandle, FileSystemReadWriteOptions, FileSystemSyncAccessHandle};

const FOLDER: &str = "chexlens-models";

/// The folder model files are kept in; `None` where the browser has no
/// origin private file system.
async fn folder() -> Option<FileSystemDirectoryHandle> {
    opfs::folder(FOLDER).await
}

/// A name no other file has: files are never reused, so a load never waits
/// on another tab's write to the same model.
fn new_name() -> String {
    let random = (js_sys::Math::random() * 2f64.powi(52)) as u64;
    format!("{:x}-{random:013x}", js_sys::Date::now() as u64)
}

/// A file written as a download is read. A failed write (a full disk)
/// stops the copy, not the load.
pub struct FileWriter {
    handle: FileSystemSyncAccessHandle,
    name: String,
    written: f64,
    failed: bool,
}

impl FileWriter {
    /// A new, empty file; `None` where files cannot be written here (sync
    /// access handles exist only in dedicated workers).
    pub async fn create() -> Option<Self> {
        let folder = folder().await?;
        let name = new_name();
        let file = opfs::file_handle(&folder, &name, true).await?;
        let handle = match has_method(&file, "createSyncAccessHandle") {
            true => wait(file.create_sync_access_handle())
                .await
                .and_then(|h| h.dyn_into().ok()),
            false => None,
        };
        match handle {
            Some(handle) => Some(Self {
                handle,
                name,
                written: 0.0,
                failed: false,
            }),
            None => {
                let _ = wait(folder.remove_entry(&name)).await;
                None
            }
        }
    }

    /// Appends a chunk the loader has read.
    pub fn write(&mut self, chunk: &Uint8Array) {
        if self.failed {
            return;
        }
        let at = FileSystemReadWriteOptions::new();
        at.set_at(self.written);
        match self.handle.write_with_js_u8_array_and_options(chunk, &at) {
            Ok(n) if n == f64::from(chunk.length()) => self.written += n,
            _ => self.failed = true,
        }
    }

    /// The file's name once it is whole on disk; `None` (and the file
    /// removed) where a write failed.
    pub async fn finish(self) -> Option<String> {
        let whole = !self.failed && self.handle.flush().is_ok();
        self.handle.close();
        if whole {
            Some(self.name)
        } else {
            remove(&self.name).await;
            None
        }
    }

    /// The download failed part-way: the file goes.
    pub async fn abandon(self) {
        self.handle.close();
        remove(&self.name).await;
    }
}

/// A kept file, read as a `File`; `None` when it is gone.
pub async fn open(name: &str) -> Option<File> {
    opfs::open(&folder().await?, name).await
}

/// Removes a kept file. One being written (by another tab's load) is locked
/// and stays.
pub async fn remove(name: &str) {
    if let Some(folder) = folder().await {
        opfs::remove(&folder, name).await;
    }
}

/// The names of every kept file.
pub async fn names() -> Vec<String> {
    match folder().await {
        Some(folder) => opfs::names(&folder).await,
        None => Vec::new(),
    }
}
