//! Files and folders dropped onto the batch. Folders are walked through
//! the entries API, so their images keep their paths inside the folder (as
//! a folder picked with the picker does) and match a labels CSV's paths.

use js_sys::{Array, Function, Promise};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{DataTransfer, File, FileSystemDirectoryEntry, FileSystemEntry, FileSystemFileEntry};

/// The most files one drop may bring: a bound on the walk, whatever a
/// dropped folder holds.
pub const MAX_DROPPED_FILES: usize = 250_000;

/// One dropped thing: an entry (a file or a folder) where the browser
/// gives one, else the plain file.
pub enum Dropped {
    Entry(FileSystemEntry),
    File(File),
}

/// What a drop holds. It must be taken while the drop event runs: the
/// browser empties the data transfer once it returns.
pub fn take(transfer: &DataTransfer) -> Vec<Dropped> {
    let items = transfer.items();
    (0..items.length())
        .filter_map(|i| items.get(i))
        .filter(|item| item.kind() == "file")
        .filter_map(|item| match item.webkit_get_as_entry() {
            Ok(Some(entry)) => Some(Dropped::Entry(entry)),
            _ => item.get_as_file().ok().flatten().map(Dropped::File),
        })
        .collect()
}

/// Every file under the dropped entries with its path (a folder's name
/// first), in the order met; `Err` names what could not be read.
pub async fn walk(dropped: Vec<Dropped>) -> Result<Vec<(String, File)>, String> {
    let mut files = Vec::new();
    let mut pending = Vec::new();
    for item in dropped {
        match item {
            Dropped::Entry(entry) => pending.push(entry),
            Dropped::File(file) => files.push((file.name(), file)),
        }
    }
    pending.reverse();
    while let Some(entry) = pending.pop() {
        if files.len() >= MAX_DROPPED_FILES {
            return Err(format!("the drop holds more than {MAX_DROPPED_FILES} files"));
        }
        let path = entry.full_path().trim_start_matches('/').to_owned();
        if entry.is_file() {
            let file = file_of(entry.unchecked_ref())
                .await
                .map_err(|_| format!("{path}: the file could not be read"))?;
            files.push((path, file));
        } else if entry.is_directory() {
            let listed = folder_entries(entry.unchecked_ref())
                .await
                .map_err(|_| format!("{path}: the folder could not be read"))?;
            // Depth first, by name (browsers list a folder in any order);
            // hidden files (.DS_Store and the like) are no one's images.
            let mut listed: Vec<FileSystemEntry> = listed.into_iter().filter(|e| !e.name().starts_with('.')).collect();
            listed.sort_by_key(|e| e.name());
            pending.extend(listed.into_iter().rev());
        }
    }
    Ok(files)
}

/// Runs a callback-style API as a future.
async fn callback(start: impl FnOnce(&Function, &Function)) -> Result<JsValue, JsValue> {
    let mut start = Some(start);
    let promise = Promise::new(&mut |resolve, reject| {
        if let Some(start) = start.take() {
            start(&resolve, &reject);
        }
    });
    JsFuture::from(promise).await
}

async fn file_of(entry: &FileSystemFileEntry) -> Result<File, JsValue> {
    let value = callback(|ok, fail| entry.file_with_callback_and_callback(ok, fail)).await?;
    value.dyn_into::<File>()
}

/// A folder's entries: `readEntries` gives them in chunks until an empty one.
async fn folder_entries(folder: &FileSystemDirectoryEntry) -> Result<Vec<FileSystemEntry>, JsValue> {
    let reader = folder.create_reader();
    let mut all = Vec::new();
    loop {
        let chunk = callback(|ok, fail| {
            if let Err(e) = reader.read_entries_with_callback_and_callback(ok, fail) {
                let _ = fail.call1(&JsValue::NULL, &e);
            }
        })
        .await?;
        let chunk: Array = chunk.dyn_into()?;
        if chunk.length() == 0 {
            return Ok(all);
        }
        if all.len() + chunk.length() as usize > MAX_DROPPED_FILES {
            return Err(JsValue::from_str("too many entries"));
        }
        // Unchecked: Chromium does not expose FileSystemEntry as a global,
        // so an `instanceof` test would throw.
        all.extend(chunk.iter().map(|e| e.unchecked_into::<FileSystemEntry>()));
    }
}
