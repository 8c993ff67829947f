//! Saving a large export as it is made: straight to a file the user picks
//! (the File System Access API, where the browser has it), else as a Blob
//! assembled from parts, each handed to the browser's blob store as it is
//! written, so that no part is held twice and the page's own memory holds
//! one part at a time.

use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, BlobPropertyBag, FileSystemWritableFileStream};

/// Bytes gathered before they go to the file or the blob store.
const PART_BYTES: usize = 1 << 20;

enum Target {
    File(FileSystemWritableFileStream),
    Parts(Array),
}

pub struct SaveStream {
    target: Target,
    pending: Vec<u8>,
    name: String,
    mime: String,
    written: u64,
}

/// What a save came to.
pub enum Saved {
    /// Written to the file the user chose.
    ToFile(u64),
    /// Offered as a download.
    Downloaded(u64),
}

impl Saved {
    pub fn bytes(&self) -> u64 {
        match self {
            Saved::ToFile(n) | Saved::Downloaded(n) => *n,
        }
    }
}

fn failed(_: JsValue) -> String {
    "the file could not be written (is the disk full?)".into()
}

/// The file picker's answer: a writable file, `Ok(None)` when the user
/// cancelled, `Err` where the browser has no picker or refused it here.
async fn pick_file(name: &str, mime: &str, extension: &str, description: &str) -> Result<Option<JsValue>, ()> {
    let window = web_sys::window().ok_or(())?;
    let picker = Reflect::get(&window, &"showSaveFilePicker".into()).map_err(|_| ())?;
    let picker: js_sys::Function = picker.dyn_into().map_err(|_| ())?;
    let accept = Object::new();
    let _ = Reflect::set(&accept, &mime.into(), &Array::of1(&extension.into()));
    let kind = Object::new();
    let _ = Reflect::set(&kind, &"description".into(), &description.into());
    let _ = Reflect::set(&kind, &"accept".into(), &accept);
    let options = Object::new();
    let _ = Reflect::set(&options, &"suggestedName".into(), &name.into());
    let _ = Reflect::set(&options, &"types".into(), &Array::of1(&kind));
    let promise: Promise = picker
        .call1(&window, &options)
        .map_err(|_| ())?
        .dyn_into()
        .map_err(|_| ())?;
    match JsFuture::from(promise).await {
        Ok(handle) => {
            let create: js_sys::Function = Reflect::get(&handle, &"createWritable".into())
                .map_err(|_| ())?
                .dyn_into()
                .map_err(|_| ())?;
            let promise: Promise = create.call0(&handle).map_err(|_| ())?.dyn_into().map_err(|_| ())?;
            JsFuture::from(promise).await.map(Some).map_err(|_| ())
        }
        Err(e) => {
            let name = Reflect::get(&e, &"name".into()).ok().and_then(|n| n.as_string());
            if name.as_deref() == Some("AbortError") {
                Ok(None)
            } else {
                Err(())
            }
        }
    }
}

impl SaveStream {
    /// Asks where to save `name`; `None` when the user cancelled. Must be
    /// called while the click that asked for it is being handled.
    pub async fn open(name: &str, mime: &str, extension: &str, description: &str) -> Option<Self> {
        let target = match pick_file(name, mime, extension, description).await {
            Ok(Some(stream)) => Target::File(stream.unchecked_into()),
            Ok(None) => return None,
            Err(()) => Target::Parts(Array::new()),
        };
        Some(Self {
            target,
            pending: Vec::with_capacity(PART_BYTES),
            name: name.to_owned(),
            mime: mime.to_owned(),
            written: 0,
        })
    }

    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.pending.extend_from_slice(bytes);
        self.written += bytes.len() as u64;
        if self.pending.len() >= PART_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    pub async fn write_str(&mut self, text: &str) -> Result<(), String> {
        self.write(text.as_bytes()).await
    }

    async fn flush(&mut self) -> Result<(), String> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let part = Uint8Array::from(self.pending.as_slice());
        self.pending.clear();
        match &self.target {
            Target::File(stream) => {
                JsFuture::from(stream.write_with_js_u8_array(&part).map_err(failed)?)
                    .await
                    .map_err(failed)?;
            }
            Target::Parts(parts) => {
                let blob = Blob::new_with_u8_array_sequence(&Array::of1(&part))
                    .map_err(|_| "the browser could not hold the export".to_string())?;
                parts.push(&blob);
            }
        }
        Ok(())
    }

    /// Writes what is left and closes the file, or offers the download.
    pub async fn finish(mut self) -> Result<Saved, String> {
        self.flush().await?;
        match self.target {
            Target::File(stream) => {
                JsFuture::from(stream.close()).await.map_err(failed)?;
                Ok(Saved::ToFile(self.written))
            }
            Target::Parts(parts) => {
                let options = BlobPropertyBag::new();
                options.set_type(&self.mime);
                let blob = Blob::new_with_blob_sequence_and_options(&parts, &options)
                    .map_err(|_| "the browser could not hold the export".to_string())?;
                super::download::offer_blob(&blob, &self.name)?;
                Ok(Saved::Downloaded(self.written))
            }
        }
    }

    /// Stops: a file written part-way is discarded.
    pub async fn abort(self) {
        if let Target::File(stream) = self.target {
            let _ = JsFuture::from(stream.abort()).await;
        }
    }
}
