//! Model files kept for offline use: an entry in Cache Storage for each,
//! with its headers, naming the kept file that holds its bytes (see
//! [`crate::model_files`]). The worker fills and reads them while loading;
//! the page lists and removes what is kept.
//!
//! Keys are same-origin addresses under `__chexlens-model-cache__/`, which
//! are never fetched: `sha256/<hex>` for a member with a checksum (the
//! content decides the key, so two manifests share a file),
//! `url/<address>` for a member without one, and `manifest/<address>` for a
//! manifest, whose headers name its members and their total size. A member
//! is only kept if its download completed and checked out (see the worker's
//! loader); every read is verified again.

use js_sys::{Array, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, CacheStorage, Headers, Request, Response, ResponseInit};

use crate::model_files::{self, FileWriter};

pub const CACHE_NAME: &str = "chexlens-models";
const PREFIX: &str = "__chexlens-model-cache__/";

/// Headers stored with each entry.
pub const SIZE: &str = "x-chexlens-size";
pub const SHA256: &str = "x-chexlens-sha256";
pub const NAME: &str = "x-chexlens-name";
pub const MEMBERS: &str = "x-chexlens-members";
pub const SOURCE: &str = "x-chexlens-source";
/// The kept file that holds a member's bytes (copies kept before files
/// were used hold them in their body).
pub const FILE: &str = "x-chexlens-file";

fn own_origin() -> String {
    Reflect::get(&js_sys::global(), &"origin".into())
        .ok()
        .and_then(|o| o.as_string())
        .unwrap_or_default()
}

fn key(kind: &str, id: &str) -> String {
    let id = String::from(js_sys::encode_uri_component(id));
    format!("{}/{PREFIX}{kind}/{id}", own_origin())
}

pub fn member_key(url: &str, sha256: Option<&str>) -> String {
    match sha256 {
        Some(sha) => key("sha256", &sha.to_ascii_lowercase()),
        None => key("url", url),
    }
}

pub fn manifest_key(url: &str) -> String {
    key("manifest", url)
}

fn is_manifest_key(url: &str) -> bool {
    url.contains(&format!("/{PREFIX}manifest/"))
}

async fn wait(promise: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(promise).await
}

/// A response built from a body (text, a stream or bytes) with chexlens's headers.
pub fn response_with(body: &JsValue, headers: &[(&str, &str)]) -> Option<Response> {
    let h = Headers::new().ok()?;
    h.set("content-type", "application/octet-stream").ok()?;
    for (k, v) in headers {
        h.set(k, v).ok()?;
    }
    let init = ResponseInit::new();
    init.set_headers_headers(&h);
    if let Some(stream) = body.dyn_ref::<web_sys::ReadableStream>() {
        Response::new_with_opt_readable_stream_and_init(Some(stream), &init).ok()
    } else if let Some(bytes) = body.dyn_ref::<js_sys::Uint8Array>() {
        let bytes: &js_sys::Object = bytes;
        Response::new_with_opt_buffer_source_and_init(Some(bytes), &init).ok()
    } else {
        Response::new_with_opt_str_and_init(body.as_string().as_deref(), &init).ok()
    }
}

/// An offline copy written from the chunks the loader reads, as it reads
/// them: its bytes to a kept file ([`model_files`]), then an entry with
/// its headers that names the file. (A teed response would let the copy
/// run ahead and queue the whole body in memory for the slower reader.)
pub struct CopyWriter {
    file: FileWriter,
    key: String,
    headers: Vec<(&'static str, String)>,
}

impl CopyWriter {
    /// Starts the copy kept under `key` with `headers`; `None` where the
    /// browser cannot write files.
    pub async fn start(key: &str, headers: Vec<(&'static str, String)>) -> Option<Self> {
        Some(Self {
            file: FileWriter::create().await?,
            key: key.to_string(),
            headers,
        })
    }

    /// Writes a chunk the loader has read.
    pub fn write(&mut self, chunk: &js_sys::Uint8Array) {
        self.file.write(chunk);
    }

    /// The body is whole: true once the copy is kept (replacing an older one).
    pub async fn finish(self, cache: &ModelCache) -> bool {
        let Some(name) = self.file.finish().await else {
            return false;
        };
        cache.delete(&self.key).await;
        let mut headers: Vec<(&str, &str)> = self.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        headers.push((FILE, &name));
        let stored = match response_with(&"".into(), &headers) {
            Some(entry) => wait(cache.put(&self.key, &entry)).await.is_ok(),
            None => false,
        };
        if !stored {
            model_files::remove(&name).await;
        }
        stored
    }

    /// The body failed part-way: nothing is kept.
    pub async fn abandon(self) {
        self.file.abandon().await;
    }
}

/// The open model cache; `None` where the browser offers no Cache Storage
/// (then models load from the network every time).
#[derive(Clone)]
pub struct ModelCache {
    cache: Cache,
}

impl ModelCache {
    pub async fn open() -> Option<Self> {
        let storage: CacheStorage = Reflect::get(&js_sys::global(), &"caches".into())
            .ok()?
            .dyn_into()
            .ok()?;
        let cache = wait(storage.open(CACHE_NAME)).await.ok()?.dyn_into().ok()?;
        Some(Self { cache })
    }

    pub async fn get(&self, key: &str) -> Option<Response> {
        wait(self.cache.match_with_str(key)).await.ok()?.dyn_into().ok()
    }

    /// Starts storing `response`; the promise settles when its body has been
    /// written (and rejects if the body failed part-way).
    pub fn put(&self, key: &str, response: &Response) -> Promise {
        self.cache.put_with_str(key, response)
    }

    /// Removes an entry and the file it names.
    pub async fn delete(&self, key: &str) {
        if let Some(name) = self.get(key).await.and_then(|entry| file_of(&entry)) {
            model_files::remove(&name).await;
        }
        let _ = wait(self.cache.delete_with_str(key)).await;
    }

    /// A member's bytes: from the file its entry names, else from the
    /// entry's body; `None` when its file is gone.
    pub async fn body(&self, entry: &Response) -> Option<Response> {
        match file_of(entry) {
            Some(name) => Response::new_with_opt_blob(Some(&model_files::open(&name).await?.into())).ok(),
            None => Some(Clone::clone(entry)),
        }
    }

    /// Removes the kept files no entry names: those of loads that ended
    /// with the tab. (A file being written is locked and stays.)
    pub async fn remove_strays(&self) {
        let Ok(keys) = wait(self.cache.keys()).await else {
            return;
        };
        let mut named = Vec::new();
        for request in Array::from(&keys).iter() {
            let Ok(request) = request.dyn_into::<Request>() else {
                continue;
            };
            match self.get(&request.url()).await {
                Some(entry) => named.extend(file_of(&entry)),
                // The cache could not be read whole: keep everything.
                None => return,
            }
        }
        for name in model_files::names().await {
            if !named.contains(&name) {
                model_files::remove(&name).await;
            }
        }
    }

    /// Every cached manifest: the models the page can load offline.
    pub async fn models(&self) -> Vec<CachedModel> {
        let Ok(keys) = wait(self.cache.keys()).await else {
            return Vec::new();
        };
        let mut models = Vec::new();
        for request in Array::from(&keys).iter() {
            let Ok(request) = request.dyn_into::<Request>() else {
                continue;
            };
            if !is_manifest_key(&request.url()) {
                continue;
            }
            let Some(response) = self.get(&request.url()).await else {
                continue;
            };
            let header = |name: &str| response.headers().get(name).ok().flatten().unwrap_or_default();
            models.push(CachedModel {
                key: request.url(),
                name: header(NAME),
                source: header(SOURCE),
                bytes: header(SIZE).parse().unwrap_or(0),
                members: header(MEMBERS).split_whitespace().map(String::from).collect(),
            });
        }
        models
    }

    /// Removes a model and those of its members no other cached model uses.
    pub async fn remove(&self, model: &CachedModel) {
        let others = self.models().await;
        for member in &model.members {
            let shared = others.iter().any(|m| m.key != model.key && m.members.contains(member));
            if !shared {
                self.delete(member).await;
            }
        }
        self.delete(&model.key).await;
    }
}

fn file_of(entry: &Response) -> Option<String> {
    entry.headers().get(FILE).ok().flatten()
}

/// A model kept for offline use.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedModel {
    pub key: String,
    pub name: String,
    /// The manifest's address.
    pub source: String,
    pub bytes: u64,
    pub members: Vec<String>,
}
