//! The origin private file system: folders of files that stay on this
//! machine, private to the page's origin. Model copies (`model_files`) and
//! the batch's results (the app's batch journal) are kept here.

use js_sys::{Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    File, FileSystemDirectoryHandle, FileSystemFileHandle, FileSystemGetDirectoryOptions, FileSystemGetFileOptions,
    FileSystemRemoveOptions, FileSystemWritableFileStream, StorageManager,
};

pub async fn wait(promise: Promise) -> Option<JsValue> {
    JsFuture::from(promise).await.ok()
}

pub fn has_method(object: &JsValue, name: &str) -> bool {
    Reflect::get(object, &name.into()).is_ok_and(|m| m.is_function())
}

/// The file system's root; `None` where the browser has none.
async fn root() -> Option<FileSystemDirectoryHandle> {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    let storage = Reflect::get(&navigator, &"storage".into()).ok()?;
    if !has_method(&storage, "getDirectory") {
        return None;
    }
    let storage: StorageManager = storage.unchecked_into();
    wait(storage.get_directory()).await?.dyn_into().ok()
}

/// The folder `name` at the root, made if missing; `None` where the browser
/// has no origin private file system.
pub async fn folder(name: &str) -> Option<FileSystemDirectoryHandle> {
    let root = root().await?;
    let options = FileSystemGetDirectoryOptions::new();
    options.set_create(true);
    wait(root.get_directory_handle_with_options(name, &options))
        .await?
        .dyn_into()
        .ok()
}

/// Removes the folder `name` and all it holds.
pub async fn remove_folder(name: &str) {
    if let Some(root) = root().await {
        let options = FileSystemRemoveOptions::new();
        options.set_recursive(true);
        let _ = wait(root.remove_entry_with_options(name, &options)).await;
    }
}

pub async fn file_handle(folder: &FileSystemDirectoryHandle, name: &str, create: bool) -> Option<FileSystemFileHandle> {
    let options = FileSystemGetFileOptions::new();
    options.set_create(create);
    wait(folder.get_file_handle_with_options(name, &options))
        .await?
        .dyn_into()
        .ok()
}

/// A file, read as a `File`; `None` when it is not there.
pub async fn open(folder: &FileSystemDirectoryHandle, name: &str) -> Option<File> {
    let handle = file_handle(folder, name, false).await?;
    wait(handle.get_file()).await?.dyn_into().ok()
}

/// Writes (or replaces) a whole file; false where it could not be written
/// (a full disk). The new contents replace the old only once whole.
pub async fn write_text(folder: &FileSystemDirectoryHandle, name: &str, text: &str) -> bool {
    let Some(handle) = file_handle(folder, name, true).await else {
        return false;
    };
    let Some(stream) = wait(handle.create_writable()).await else {
        return false;
    };
    let stream: FileSystemWritableFileStream = stream.unchecked_into();
    let written = match stream.write_with_str(text) {
        Ok(promise) => wait(promise).await.is_some(),
        Err(_) => false,
    };
    if !written {
        let _ = wait(stream.abort()).await;
        return false;
    }
    wait(stream.close()).await.is_some()
}

/// Removes a file. One being written (by another tab) is locked and stays.
pub async fn remove(folder: &FileSystemDirectoryHandle, name: &str) {
    let _ = wait(folder.remove_entry(name)).await;
}

/// The names of every entry in a folder.
pub async fn names(folder: &FileSystemDirectoryHandle) -> Vec<String> {
    let keys = folder.keys();
    let mut names = Vec::new();
    while let Ok(next) = keys.next() {
        let Some(step) = wait(next).await else { break };
        if Reflect::get(&step, &"done".into()).is_ok_and(|d| d.is_truthy()) {
            break;
        }
        match Reflect::get(&step, &"value".into()).ok().and_then(|v| v.as_string()) {
            Some(name) => names.push(name),
            None => break,
        }
    }
    names
}
