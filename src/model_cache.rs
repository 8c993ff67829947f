//! Model files kept for offline use, in Cache Storage. The worker fills and
//! reads it while loading; the page lists and removes what it holds.
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

pub const CACHE_NAME: &str = "chexlens-models";
const PREFIX: &str = "__chexlens-model-cache__/";

/// Headers stored with each entry.
pub const SIZE: &str = "x-chexlens-size";
pub const SHA256: &str = "x-chexlens-sha256";
pub const NAME: &str = "x-chexlens-name";
pub const MEMBERS: &str = "x-chexlens-members";
pub const SOURCE: &str = "x-chexlens-source";

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

/// A response built from a body with chexlens's headers.
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
    } else {
        Response::new_with_opt_str_and_init(body.as_string().as_deref(), &init).ok()
    }
}

/// A cache entry written from the chunks the loader reads, as it reads
/// them. A teed response would let the cache's copy run ahead and queue the
/// whole body in memory for the slower reader.
pub struct CacheWriter {
    controller: web_sys::ReadableStreamDefaultController,
    stored: Promise,
}

impl CacheWriter {
    /// Starts writing entry `key` with `headers`; `None` where the browser
    /// cannot make the stream.
    pub fn start(cache: &ModelCache, key: &str, headers: &[(&str, &str)]) -> Option<Self> {
        let captured = std::rc::Rc::new(std::cell::RefCell::new(None));
        let keep = captured.clone();
        // The stream calls `start` at once, with the controller chunks are queued through.
        let start = wasm_bindgen::closure::Closure::once_into_js(move |controller: JsValue| {
            *keep.borrow_mut() = Some(controller);
        });
        let source = js_sys::Object::new();
        Reflect::set(&source, &"start".into(), &start).ok()?;
        let stream = web_sys::ReadableStream::new_with_underlying_source(&source).ok()?;
        let controller = captured.borrow_mut().take()?.unchecked_into();
        let response = response_with(&stream.into(), headers)?;
        Some(Self {
            controller,
            stored: cache.put(key, &response),
        })
    }

    /// Queues a chunk the loader has read (shared, not copied).
    pub fn write(&self, chunk: &js_sys::Uint8Array) {
        let _ = self.controller.enqueue_with_chunk(chunk);
    }

    /// The body is whole: true once the entry is stored.
    pub async fn finish(self) -> bool {
        self.controller.close().is_ok() && JsFuture::from(self.stored).await.is_ok()
    }

    /// The body failed part-way: the entry is not stored.
    pub async fn abandon(self) {
        self.controller.error();
        let _ = JsFuture::from(self.stored).await;
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

    pub async fn delete(&self, key: &str) {
        let _ = wait(self.cache.delete_with_str(key)).await;
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
