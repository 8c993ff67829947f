//! Downloads with byte progress that a load's abort signal can stop.

use js_sys::{ArrayBuffer, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortSignal, ReadableStreamByobReader, ReadableStreamDefaultReader, RequestInit, Response, WorkerGlobalScope,
};

/// Why a download stopped.
pub enum FetchError {
    Cancelled,
    Failed(String),
}

fn scope() -> WorkerGlobalScope {
    js_sys::global().unchecked_into()
}

/// Resolves `url` against `base` (or the worker's own location).
pub fn resolve_url(url: &str, base: Option<&str>) -> Result<String, String> {
    let own = scope().location().href();
    let base = base.unwrap_or(&own);
    web_sys::Url::new_with_base(url, base)
        .map(|u| u.href())
        .map_err(|_| format!("'{url}' is not a valid address"))
}

/// Fetches `url`'s response whatever its status (the body not read yet).
/// `authorization` goes with this request only: the browser drops it when a
/// redirect leaves the origin.
pub async fn fetch_any_status(
    url: &str,
    signal: &AbortSignal,
    authorization: Option<&str>,
) -> Result<Response, FetchError> {
    let init = RequestInit::new();
    init.set_signal(Some(signal));
    if let Some(value) = authorization {
        let headers = web_sys::Headers::new().map_err(|e| failure(signal, &e))?;
        headers.set("Authorization", value).map_err(|e| failure(signal, &e))?;
        init.set_headers(&headers);
    }
    Ok(JsFuture::from(scope().fetch_with_str_and_init(url, &init))
        .await
        .map_err(|e| failure(signal, &e))?
        .unchecked_into())
}

/// Fetches `url`'s response (status checked; the body not read yet).
pub async fn fetch_response(
    url: &str,
    signal: &AbortSignal,
    authorization: Option<&str>,
) -> Result<Response, FetchError> {
    let response = fetch_any_status(url, signal, authorization).await?;
    if !response.ok() {
        return Err(FetchError::Failed(format!(
            "the server answered {} {}",
            response.status(),
            response.status_text()
        )));
    }
    Ok(response)
}

fn failure(signal: &AbortSignal, e: &JsValue) -> FetchError {
    if signal.aborted() {
        FetchError::Cancelled
    } else {
        FetchError::Failed(js_error_text(e))
    }
}

/// The size a response announces (Content-Length).
pub fn announced_size(response: &Response, header: &str) -> Option<u64> {
    response
        .headers()
        .get(header)
        .ok()
        .flatten()
        .and_then(|v| v.parse::<u64>().ok())
}

/// Bytes that arrive in chunks: a response's body, or a picked file.
#[allow(async_fn_in_trait)]
pub trait Chunks {
    /// The next chunk, or `None` once the bytes are whole. A chunk is
    /// valid until the next call, which may reuse its memory.
    async fn next(&mut self) -> Result<Option<Uint8Array>, FetchError>;
    /// Bytes read so far.
    fn done(&self) -> u64;
    /// Stops reading: the rest is not wanted.
    fn stop(&mut self);
}

/// A body read into one buffer waits for at least `READ_AT_LEAST` bytes
/// (or its end) and takes at most `READ_BUFFER_BYTES`: a read as soon as
/// any bytes arrive averaged 0.4 MB, twice the reads of chunk by chunk.
const READ_BUFFER_BYTES: u32 = 4 << 20;
const READ_AT_LEAST: u32 = 1 << 20;

/// How a body is read: into one reused buffer where it is a byte stream
/// (fetched and blob bodies are, in Chromium), else chunk by chunk. Each
/// chunk is a new buffer left to the garbage collector: read that way,
/// loading peaked 0.04 to 0.17 times the weights higher
/// (`tools/bench/browser-bench --memory`).
enum Reader {
    IntoBuffer {
        reader: ReadableStreamByobReader,
        /// `None` while a read holds it.
        buffer: Option<ArrayBuffer>,
    },
    ByChunk(ReadableStreamDefaultReader),
}

impl Reader {
    fn new(body: &web_sys::ReadableStream) -> Self {
        match ReadableStreamByobReader::new(body) {
            Ok(reader) => Reader::IntoBuffer { reader, buffer: None },
            Err(_) => Reader::ByChunk(body.get_reader().unchecked_into()),
        }
    }

    /// The stream's next bytes, and whether it has ended (the last bytes
    /// of a read into a buffer can come with its end).
    async fn read(&mut self) -> Result<(Option<Uint8Array>, bool), JsValue> {
        let result = match self {
            Reader::IntoBuffer { reader, buffer } => {
                // The read takes the buffer over; its chunk's buffer (the same memory) comes back.
                let buffer = buffer.take().unwrap_or_else(|| ArrayBuffer::new(READ_BUFFER_BYTES));
                let options = js_sys::Object::new();
                Reflect::set(&options, &"min".into(), &READ_AT_LEAST.into())?;
                // `read(view, {min})`, which web-sys does not bind; a browser without `min` ignores it.
                let read: js_sys::Function = Reflect::get(reader, &"read".into())?.dyn_into()?;
                let promise: js_sys::Promise = read.call2(reader, &Uint8Array::new(&buffer), &options)?.dyn_into()?;
                JsFuture::from(promise).await?
            }
            Reader::ByChunk(reader) => JsFuture::from(reader.read()).await?,
        };
        let done = Reflect::get(&result, &"done".into())?.is_truthy();
        let value = Reflect::get(&result, &"value".into())?.dyn_into::<Uint8Array>().ok();
        if let (Reader::IntoBuffer { buffer, .. }, Some(value)) = (self, &value) {
            *buffer = Some(value.buffer());
        }
        Ok((value, done))
    }

    fn cancel(&self) {
        let _ = match self {
            Reader::IntoBuffer { reader, .. } => reader.cancel(),
            Reader::ByChunk(reader) => reader.cancel(),
        };
    }
}

/// A response's body read chunk by chunk as it arrives. A body shorter
/// than `total` is an error, never a model (longer is fine:
/// Content-Length counts compressed bytes); one longer than `limit` is
/// refused as it arrives.
pub struct BodyReader<'a> {
    reader: Option<Reader>,
    total: Option<u64>,
    limit: u64,
    signal: &'a AbortSignal,
    done: u64,
    /// The stream has ended: no more reads.
    ended: bool,
}

impl<'a> BodyReader<'a> {
    pub fn new(
        response: &Response,
        total: Option<u64>,
        limit: u64,
        signal: &'a AbortSignal,
    ) -> Result<Self, FetchError> {
        let reader = response.body().map(|body| Reader::new(&body));
        let body = Self {
            reader,
            total,
            limit,
            signal,
            done: 0,
            ended: false,
        };
        if total.is_some_and(|t| t > limit) {
            return Err(body.too_large());
        }
        Ok(body)
    }

    fn too_large(&self) -> FetchError {
        FetchError::Failed(format!(
            "it is larger than the {} MB read for its kind",
            self.limit >> 20
        ))
    }

    fn end(&self) -> Result<(), FetchError> {
        if self.signal.aborted() {
            return Err(FetchError::Cancelled);
        }
        match self.total {
            Some(total) if self.done < total => Err(FetchError::Failed(format!(
                "the download stopped after {} of {total} bytes",
                self.done
            ))),
            _ => Ok(()),
        }
    }
}

impl Chunks for BodyReader<'_> {
    fn done(&self) -> u64 {
        self.done
    }

    async fn next(&mut self) -> Result<Option<Uint8Array>, FetchError> {
        if self.ended {
            return self.end().map(|()| None);
        }
        let Some(reader) = &mut self.reader else {
            return Ok(None);
        };
        let (value, done) = reader.read().await.map_err(|e| failure(self.signal, &e))?;
        self.ended = done;
        let value = match value {
            Some(value) if value.length() > 0 => value,
            _ if done => return self.end().map(|()| None),
            _ => Uint8Array::new_with_length(0),
        };
        self.done += u64::from(value.length());
        if self.done > self.limit {
            self.stop();
            return Err(self.too_large());
        }
        Ok(Some(value))
    }

    fn stop(&mut self) {
        if let Some(reader) = self.reader.take() {
            reader.cancel();
        }
    }
}

/// Reads a response's body completely, reporting `(done, total)` as chunks
/// arrive (see [`BodyReader`]).
pub async fn read_body(
    response: &Response,
    total: Option<u64>,
    limit: u64,
    signal: &AbortSignal,
    mut progress: impl FnMut(u64, Option<u64>),
) -> Result<Vec<u8>, FetchError> {
    let mut body = BodyReader::new(response, total, limit, signal)?;
    let mut bytes = Vec::with_capacity(total.unwrap_or(0).min(limit) as usize);
    while let Some(chunk) = body.next().await? {
        let start = bytes.len();
        bytes.resize(start + chunk.length() as usize, 0);
        chunk.copy_to(&mut bytes[start..]);
        progress(body.done(), total);
    }
    Ok(bytes)
}

/// A one-line description of a JS exception, for messages.
pub fn js_error_text(e: &JsValue) -> String {
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        return String::from(err.message());
    }
    e.as_string().unwrap_or_else(|| "network error".into())
}

/// A picked file held in JavaScript memory, handed out in pieces of
/// `piece` bytes, yielding between them so that a cancel is seen.
pub struct FilePieces<'a> {
    file: &'a Uint8Array,
    piece: u32,
    done: u32,
    signal: &'a AbortSignal,
}

impl<'a> FilePieces<'a> {
    pub fn new(file: &'a Uint8Array, piece: u32, signal: &'a AbortSignal) -> Self {
        Self {
            file,
            piece,
            done: 0,
            signal,
        }
    }
}

impl Chunks for FilePieces<'_> {
    async fn next(&mut self) -> Result<Option<Uint8Array>, FetchError> {
        if self.done > 0 {
            yield_to_events().await;
        }
        if self.signal.aborted() {
            return Err(FetchError::Cancelled);
        }
        if self.done >= self.file.length() {
            return Ok(None);
        }
        let end = self.file.length().min(self.done.saturating_add(self.piece));
        let piece = self.file.subarray(self.done, end);
        self.done = end;
        Ok(Some(piece))
    }

    fn done(&self) -> u64 {
        u64::from(self.done)
    }

    fn stop(&mut self) {
        self.done = self.file.length();
    }
}

/// Yields to the event loop so that queued messages (a cancel) are handled.
pub async fn yield_to_events() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = scope().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0);
    });
    let _ = JsFuture::from(promise).await;
}
