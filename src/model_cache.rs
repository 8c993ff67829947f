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

use crate::worker::fetch::{BodyReader, Chunks, FetchError};
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
/// How many parts a member's offline copy is stored in.
pub const PARTS: &str = "x-chexlens-parts";

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

/// A member's offline copy is stored in parts of this size, each its own
/// entry: Chromium stages an entry's whole body in memory while it writes
/// it, so a 350 MB entry would cost 350 MB more while loading.
const PART_BYTES: u32 = 16 << 20;

fn part_key(key: &str, part: u32) -> String {
    format!("{key}/part/{part}")
}

/// A member's offline copy, written from the chunks the loader reads as it
/// reads them: one part is filled while the one before is stored, so the
/// copy never holds more than two parts, and the member's entry (its
/// headers and the number of parts) is written last, once every part is in.
pub struct CacheWriter {
    cache: ModelCache,
    key: String,
    headers: Vec<(String, String)>,
    /// The part being filled (reused: a response copies its body).
    part: js_sys::Uint8Array,
    filled: u32,
    parts: u32,
    storing: Option<Promise>,
    failed: bool,
}

impl CacheWriter {
    /// Starts the offline copy of member `key`, whose entry will have `headers`.
    pub fn start(cache: &ModelCache, key: &str, headers: &[(&str, &str)]) -> Self {
        Self {
            cache: cache.clone(),
            key: key.to_string(),
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            part: js_sys::Uint8Array::new_with_length(PART_BYTES),
            filled: 0,
            parts: 0,
            storing: None,
            failed: false,
        }
    }

    /// Copies a chunk the loader has read into the copy.
    pub async fn write(&mut self, chunk: &js_sys::Uint8Array) {
        let mut at = 0;
        while at < chunk.length() {
            let take = (PART_BYTES - self.filled).min(chunk.length() - at);
            self.part.set(&chunk.subarray(at, at + take), self.filled);
            self.filled += take;
            at += take;
            if self.filled == PART_BYTES {
                self.store_part().await;
            }
        }
    }

    /// Stores the filled part, once the part before it is stored.
    async fn store_part(&mut self) {
        self.settle().await;
        let body = self.part.subarray(0, self.filled);
        match Response::new_with_opt_buffer_source(Some(&body)) {
            Ok(response) => self.storing = Some(self.cache.put(&part_key(&self.key, self.parts), &response)),
            Err(_) => self.failed = true,
        }
        self.parts += 1;
        self.filled = 0;
    }

    async fn settle(&mut self) {
        if let Some(stored) = self.storing.take() {
            self.failed |= wait(stored).await.is_err();
        }
    }

    /// The body is whole: true once every part and the entry are stored.
    pub async fn finish(mut self) -> bool {
        if self.filled > 0 {
            self.store_part().await;
        }
        self.settle().await;
        let parts = self.parts.to_string();
        let mut headers: Vec<(&str, &str)> = self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        headers.push((PARTS, &parts));
        let stored = match (self.failed, response_with(&JsValue::from_str(""), &headers)) {
            (false, Some(entry)) => wait(self.cache.put(&self.key, &entry)).await.is_ok(),
            _ => false,
        };
        if !stored {
            self.cache.delete_parts(&self.key, self.parts).await;
        }
        stored
    }

    /// The body failed part-way: nothing of the copy is kept.
    pub async fn abandon(mut self) {
        self.settle().await;
        self.cache.delete_parts(&self.key, self.parts).await;
    }
}

/// A member's offline copy read back: its parts' bodies one after another,
/// or (copies kept before parts) the entry's own body.
pub struct CopyReader<'a> {
    cache: &'a ModelCache,
    key: String,
    parts: Option<u32>,
    next: u32,
    current: Option<BodyReader<'a>>,
    signal: &'a web_sys::AbortSignal,
    limit: u64,
    done: u64,
}

impl<'a> CopyReader<'a> {
    /// Reads the copy whose entry is `entry` (under `key`); `limit` bounds it.
    pub fn new(
        cache: &'a ModelCache,
        key: &str,
        entry: &Response,
        limit: u64,
        signal: &'a web_sys::AbortSignal,
    ) -> Result<Self, FetchError> {
        let parts = entry.headers().get(PARTS).ok().flatten().map(|p| p.parse::<u32>());
        let (parts, current) = match parts {
            Some(Ok(parts)) => (Some(parts), None),
            Some(Err(_)) => return Err(FetchError::Failed("the offline copy's entry is damaged".into())),
            None => (None, Some(BodyReader::new(entry, None, limit, signal)?)),
        };
        Ok(Self {
            cache,
            key: key.to_string(),
            parts,
            next: 0,
            current,
            signal,
            limit,
            done: 0,
        })
    }
}

impl Chunks for CopyReader<'_> {
    async fn next(&mut self) -> Result<Option<js_sys::Uint8Array>, FetchError> {
        loop {
            if let Some(body) = &mut self.current {
                if let Some(chunk) = body.next().await? {
                    self.done += u64::from(chunk.length());
                    if self.done > self.limit {
                        return Err(FetchError::Failed(
                            "the offline copy is larger than a weight file".into(),
                        ));
                    }
                    return Ok(Some(chunk));
                }
                self.current = None;
            }
            match self.parts {
                Some(parts) if self.next < parts => {
                    let part = self
                        .cache
                        .get(&part_key(&self.key, self.next))
                        .await
                        .ok_or_else(|| FetchError::Failed("a part of the offline copy is missing".into()))?;
                    self.next += 1;
                    self.current = Some(BodyReader::new(&part, None, self.limit, self.signal)?);
                }
                _ => return Ok(None),
            }
        }
    }

    fn done(&self) -> u64 {
        self.done
    }

    fn stop(&mut self) {
        if let Some(body) = &mut self.current {
            body.stop();
        }
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

    /// Removes a member's offline copy: its entry and its parts.
    pub async fn delete_member(&self, key: &str) {
        let parts = match self.get(key).await {
            Some(entry) => entry
                .headers()
                .get(PARTS)
                .ok()
                .flatten()
                .and_then(|p| p.parse::<u32>().ok())
                .unwrap_or(0),
            None => 0,
        };
        self.delete(key).await;
        self.delete_parts(key, parts).await;
    }

    async fn delete_parts(&self, key: &str, parts: u32) {
        for part in 0..parts {
            self.delete(&part_key(key, part)).await;
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
                self.delete_member(member).await;
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
