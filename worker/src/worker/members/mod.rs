//! Members on separate cores. The CPU backend runs in one thread per worker,
//! so the model worker starts member workers (this same script, with
//! `?role=member`), deals the ensemble's members out to them, and combines
//! what they send back. Nothing here needs shared memory or cross-origin
//! isolation: it works on any static host. The threaded build starts them
//! too, where its pool has no more threads than there are members.

mod member;
mod protocol;

pub use member::run as run_member;

use chexlens_checkpoints::architecture::ArchitectureConfig;
use chexlens_checkpoints::manifest::ModelSettings;
use chexlens_chexpert::metadata::Metadata;
use chexlens_images::cam::CamMap;
use chexlens_model::gradcam::CamSettings;
use chexlens_web::transport;
use js_sys::{Function, Promise, Uint8Array};
use protocol::{Envelope, FromMember, ToMember};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{MessageEvent, Worker, WorkerGlobalScope, WorkerOptions, WorkerType};

const ROLE_QUERY: &str = "role=member";

/// This worker was started as a member worker.
pub fn is_member_worker() -> bool {
    let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
    scope.location().search().contains(ROLE_QUERY)
}

/// Why a member worker gave no answer.
#[derive(Debug)]
pub enum PoolError {
    /// It answered with this message (bad weights, for one).
    Failed(String),
    /// It stopped (out of memory, an internal fault) or never started.
    Stopped,
    /// It could not get room for a member's weights (bytes as f32).
    NoRoom(u64),
}

/// Requests waiting for their replies, and replies not yet collected.
struct Pending {
    next: u32,
    waiting: HashMap<u32, Function>,
    replies: HashMap<u32, (FromMember, Vec<Uint8Array>)>,
    stopped: bool,
}

/// One member worker and its conversation.
struct MemberWorker {
    worker: Worker,
    pending: Rc<RefCell<Pending>>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
}

/// A request that has been posted; its reply is awaited with [`Sent::reply`].
struct Sent {
    seq: u32,
    arrived: Promise,
    pending: Rc<RefCell<Pending>>,
}

impl MemberWorker {
    /// Starts a member worker; it is usable once [`Sent::reply`] of the
    /// returned ready request gives `Ready`.
    fn spawn() -> Result<(Self, Sent), PoolError> {
        let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
        // In the threaded build a member worker is this module again, on
        // one thread (its pool of one: the members share the cores).
        let options = WorkerOptions::new();
        let mut script = format!("{}?{ROLE_QUERY}", scope.location().pathname());
        if cfg!(target_feature = "atomics") {
            options.set_type(WorkerType::Module);
            script.push_str("&threads=1");
        }
        let worker = Worker::new_with_options(&script, &options).map_err(|_| PoolError::Stopped)?;
        let pending = Rc::new(RefCell::new(Pending {
            next: 1,
            waiting: HashMap::new(),
            replies: HashMap::new(),
            stopped: false,
        }));
        let ready = Sent::register(&pending, 0);

        let replies = pending.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let Some((Envelope { seq, body }, bytes)) = transport::decode::<Envelope<FromMember>>(&event.data()) else {
                return;
            };
            let mut pending = replies.borrow_mut();
            if let Some(resolve) = pending.waiting.remove(&seq) {
                pending.replies.insert(seq, (body, bytes));
                drop(pending);
                let _ = resolve.call0(&JsValue::NULL);
            }
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));

        let stopped = pending.clone();
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
            event.prevent_default();
            if let Ok(text) = js_sys::Reflect::get(&event, &"message".into()) {
                web_sys::console::error_2(&"chexlens member worker stopped:".into(), &text);
            }
            let waiting: Vec<Function> = {
                let mut pending = stopped.borrow_mut();
                pending.stopped = true;
                pending.waiting.drain().map(|(_, resolve)| resolve).collect()
            };
            for resolve in waiting {
                let _ = resolve.call0(&JsValue::NULL);
            }
        });
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));

        let member = Self {
            worker,
            pending,
            _on_message: on_message,
            _on_error: on_error,
        };
        Ok((member, ready))
    }

    /// Posts a request now (the file buffers are transferred).
    fn send(&self, body: ToMember, bytes: Vec<Uint8Array>) -> Sent {
        let seq = {
            let mut pending = self.pending.borrow_mut();
            pending.next += 1;
            pending.next
        };
        let sent = Sent::register(&self.pending, seq);
        let (value, transfer) = transport::encode(&Envelope { seq, body }, bytes);
        if self.worker.post_message_with_transfer(&value, &transfer).is_err() {
            self.pending.borrow_mut().stopped = true;
        }
        sent
    }
}

impl Drop for MemberWorker {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}

impl Sent {
    fn register(pending: &Rc<RefCell<Pending>>, seq: u32) -> Self {
        let arrived = Promise::new(&mut |resolve, _reject| {
            let mut p = pending.borrow_mut();
            if p.stopped {
                let _ = resolve.call0(&JsValue::NULL);
            } else {
                p.waiting.insert(seq, resolve);
            }
        });
        Self {
            seq,
            arrived,
            pending: pending.clone(),
        }
    }

    async fn reply(self) -> Result<(FromMember, Vec<Uint8Array>), PoolError> {
        let _ = JsFuture::from(self.arrived).await;
        let reply = self.pending.borrow_mut().replies.remove(&self.seq);
        match reply {
            Some((FromMember::Failed { message }, _)) => Err(PoolError::Failed(message)),
            Some((FromMember::NoRoom { needed }, _)) => Err(PoolError::NoRoom(needed)),
            Some(reply) => Ok(reply),
            None => Err(PoolError::Stopped),
        }
    }
}

/// How much of a weight file one message carries.
const PIECE_BYTES: usize = 8 << 20;
/// Pieces sent before the first of them is answered: enough to keep the
/// member worker copying, few enough that they never add up to a file.
const PIECES_IN_FLIGHT: usize = 2;

fn not_open() -> PoolError {
    PoolError::Failed(crate::worker::faults::NOT_OPEN.into())
}

impl Upload {
    /// Sends a piece, once fewer than [`PIECES_IN_FLIGHT`] are unanswered.
    async fn send(&mut self, worker: &MemberWorker, piece: Uint8Array) -> Result<(), PoolError> {
        if self.in_flight.len() == PIECES_IN_FLIGHT
            && let Some(sent) = self.in_flight.pop_front()
        {
            self.answered(sent).await?;
        }
        self.in_flight.push_back(worker.send(ToMember::Append, vec![piece]));
        Ok(())
    }

    async fn answered(&mut self, sent: Sent) -> Result<(), PoolError> {
        if let Some(bytes) = expect_read(sent.reply().await?)? {
            self.f32_bytes = Some(bytes);
        }
        Ok(())
    }

    /// Waits for every piece sent to be answered: the file's f32 weight
    /// bytes, once its index was read.
    async fn settle(mut self) -> Result<Option<u64>, PoolError> {
        while let Some(sent) = self.in_flight.pop_front() {
            self.answered(sent).await?;
        }
        Ok(self.f32_bytes)
    }
}

/// A read message's answer: the f32 size of the file's weights, once known.
fn expect_read(reply: (FromMember, Vec<Uint8Array>)) -> Result<Option<u64>, PoolError> {
    match reply {
        (FromMember::Read { f32_bytes }, _) => Ok(f32_bytes),
        (other, _) => Err(unexpected(other)),
    }
}

fn unexpected(reply: FromMember) -> PoolError {
    PoolError::Failed(format!("a member worker answered out of turn ({reply:?})"))
}

/// Posts a request to every worker at once (they work side by side), then
/// collects the replies in worker order; `take` accepts the expected one.
async fn ask_all<T>(
    workers: &[MemberWorker],
    request: impl Fn() -> (ToMember, Vec<Uint8Array>),
    take: impl Fn(FromMember) -> Result<T, FromMember>,
) -> Result<Vec<T>, PoolError> {
    let sent: Vec<Sent> = workers
        .iter()
        .map(|w| {
            let (body, bytes) = request();
            w.send(body, bytes)
        })
        .collect();
    let mut replies = Vec::with_capacity(sent.len());
    for s in sent {
        let (reply, _) = s.reply().await?;
        replies.push(take(reply).map_err(unexpected)?);
    }
    Ok(replies)
}

/// Member workers being filled with members, one weight file at a time.
pub struct PoolBuilder {
    workers: Vec<MemberWorker>,
    read: usize,
    /// The file on its way to a member worker.
    sending: Option<Upload>,
    /// The f32 weight bytes of the last file read whole.
    last_f32_bytes: Option<u64>,
}

/// A weight file going to a member worker in pieces: each piece is filled
/// from the download's chunks in JavaScript memory and transferred.
struct Upload {
    worker: usize,
    piece: Uint8Array,
    filled: u32,
    in_flight: VecDeque<Sent>,
    /// The file's f32 weight bytes, once the member worker has read its index.
    f32_bytes: Option<u64>,
}

impl PoolBuilder {
    /// Starts `count` member workers and waits until each listens.
    pub async fn start(count: usize) -> Result<Self, PoolError> {
        let mut workers = Vec::with_capacity(count);
        let mut ready = Vec::with_capacity(count);
        for _ in 0..count {
            let (worker, sent) = MemberWorker::spawn()?;
            workers.push(worker);
            ready.push(sent);
        }
        for sent in ready {
            match sent.reply().await? {
                (FromMember::Ready, _) => {}
                (other, _) => return Err(unexpected(other)),
            }
        }
        Ok(Self {
            workers,
            read: 0,
            sending: None,
            last_f32_bytes: None,
        })
    }

    /// Starts the next member's weight file: member `i` goes to worker
    /// `i % workers`, which reads it as its pieces arrive. Opened again, a
    /// file starts over.
    pub async fn open(&mut self, name: &str) -> Result<(), PoolError> {
        // A file that failed part-way (an offline copy, read again from the
        // network) is over: its outstanding answers are waited for, not kept.
        if let Some(upload) = self.sending.take() {
            let _ = upload.settle().await;
        }
        let worker = self.read % self.workers.len();
        let open = ToMember::Open { name: name.into() };
        expect_read(self.workers[worker].send(open, Vec::new()).reply().await?)?;
        self.sending = Some(Upload {
            worker,
            piece: Uint8Array::new_with_length(PIECE_BYTES as u32),
            filled: 0,
            in_flight: VecDeque::with_capacity(PIECES_IN_FLIGHT),
            f32_bytes: None,
        });
        Ok(())
    }

    /// The open file's next bytes.
    pub async fn push(&mut self, chunk: &Uint8Array) -> Result<(), PoolError> {
        let upload = self.sending.as_mut().ok_or_else(not_open)?;
        let worker = &self.workers[upload.worker];
        let mut at = 0;
        while at < chunk.length() {
            let room = PIECE_BYTES as u32 - upload.filled;
            let take = room.min(chunk.length() - at);
            upload.piece.set(&chunk.subarray(at, at + take), upload.filled);
            upload.filled += take;
            at += take;
            if upload.filled == PIECE_BYTES as u32 {
                let full = std::mem::replace(&mut upload.piece, Uint8Array::new_with_length(PIECE_BYTES as u32));
                upload.filled = 0;
                upload.send(worker, full).await?;
            }
        }
        Ok(())
    }

    /// The open file is whole: its member worker reads its last bytes.
    pub async fn close(&mut self) -> Result<(), PoolError> {
        let mut upload = self.sending.take().ok_or_else(not_open)?;
        let worker = &self.workers[upload.worker];
        if upload.filled > 0 {
            let last = upload.piece.slice(0, upload.filled);
            upload.send(worker, last).await?;
        }
        let f32_bytes = upload.settle().await?;
        expect_read(worker.send(ToMember::Close, Vec::new()).reply().await?)?;
        self.read += 1;
        self.last_f32_bytes = f32_bytes;
        Ok(())
    }

    /// The open file's f32 weight bytes once its index has been read, else the last file's.
    pub fn f32_bytes(&self) -> Option<u64> {
        match &self.sending {
            Some(upload) => upload.f32_bytes,
            None => self.last_f32_bytes,
        }
    }

    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Builds every worker's members at once; they must share one architecture.
    pub async fn build(
        self,
        architecture: Option<ArchitectureConfig>,
        settings: ModelSettings,
    ) -> Result<MemberPool, PoolError> {
        let build = || {
            let body = ToMember::Build {
                architecture: architecture.clone(),
                settings: settings.clone(),
            };
            (body, Vec::new())
        };
        let built = ask_all(&self.workers, build, |reply| match reply {
            FromMember::Built { architecture } => Ok(architecture),
            other => Err(other),
        })
        .await?;
        if built.windows(2).any(|pair| pair[0] != pair[1]) {
            return Err(PoolError::Failed(
                "the weight files do not share one architecture: an ensemble's members must".into(),
            ));
        }
        let architecture = built
            .into_iter()
            .next()
            .ok_or_else(|| PoolError::Failed("no member worker answered".into()))?;
        Ok(MemberPool {
            workers: self.workers,
            members: self.read,
            settings,
            architecture,
        })
    }
}

/// Each member's logits and pooled features, in member order.
pub type MemberResults = (Vec<Vec<f32>>, Vec<Vec<f32>>);

/// A loaded ensemble whose members live in member workers.
pub struct MemberPool {
    workers: Vec<MemberWorker>,
    members: usize,
    pub settings: ModelSettings,
    /// The architecture every member was built with.
    pub architecture: ArchitectureConfig,
}

impl MemberPool {
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    pub fn members(&self) -> usize {
        self.members
    }

    /// Worker `w`'s replies, one per member it holds, back in member order.
    fn member_order<T>(&self, per_worker: Vec<Vec<T>>) -> Result<Vec<T>, PoolError> {
        let count = self.workers.len();
        let mut lists: Vec<std::vec::IntoIter<T>> = per_worker.into_iter().map(Vec::into_iter).collect();
        (0..self.members)
            .map(|i| {
                lists[i % count]
                    .next()
                    .ok_or_else(|| PoolError::Failed("a member worker sent too few results".into()))
            })
            .collect()
    }

    /// Every member's logits and pooled features for the normalised image,
    /// member workers running at once.
    pub async fn analyse(&self, id: u32, pixels: &[f32], metadata: &Metadata) -> Result<MemberResults, PoolError> {
        let bytes: Vec<u8> = pixels.iter().flat_map(|v| v.to_le_bytes()).collect();
        let size = self.settings.input.size;
        let run = || {
            let body = ToMember::Run {
                id,
                size,
                metadata: *metadata,
            };
            (body, vec![Uint8Array::from(bytes.as_slice())])
        };
        let per_worker = ask_all(&self.workers, run, |reply| match reply {
            FromMember::Analysed { logits, features } => Ok((logits, features)),
            other => Err(other),
        })
        .await?;
        let (logits, features): (Vec<_>, Vec<_>) = per_worker.into_iter().unzip();
        Ok((self.member_order(logits)?, self.member_order(features)?))
    }

    /// Every member's logits on a normalised image, keeping nothing.
    pub async fn logits_of(&self, pixels: &[f32], metadata: &Metadata) -> Result<Vec<Vec<f32>>, PoolError> {
        let bytes: Vec<u8> = pixels.iter().flat_map(|v| v.to_le_bytes()).collect();
        let size = self.settings.input.size;
        let score = || {
            let body = ToMember::Score {
                size,
                metadata: *metadata,
            };
            (body, vec![Uint8Array::from(bytes.as_slice())])
        };
        let per_worker = ask_all(&self.workers, score, |reply| match reply {
            FromMember::Ran { logits } => Ok(logits),
            other => Err(other),
        })
        .await?;
        self.member_order(per_worker)
    }

    /// Every member's logits for analysis `id` with other metadata, from
    /// the backbone passes the member workers kept.
    pub async fn logits_for(&self, id: u32, metadata: &Metadata) -> Result<Vec<Vec<f32>>, PoolError> {
        let head = || {
            let body = ToMember::Head {
                id,
                metadata: *metadata,
            };
            (body, Vec::new())
        };
        let per_worker = ask_all(&self.workers, head, |reply| match reply {
            FromMember::Ran { logits } => Ok(logits),
            other => Err(other),
        })
        .await?;
        self.member_order(per_worker)
    }

    /// Every member's scaled maps (`members x labels`) for analysis `id`.
    pub async fn member_heat_maps(
        &self,
        id: u32,
        labels: &[usize],
        settings: CamSettings,
    ) -> Result<Vec<Vec<CamMap>>, PoolError> {
        let maps = || {
            let body = ToMember::HeatMaps {
                id,
                labels: labels.to_vec(),
                settings,
            };
            (body, Vec::new())
        };
        let per_worker = ask_all(&self.workers, maps, |reply| match reply {
            FromMember::HeatMaps { maps } => Ok(maps),
            other => Err(other),
        })
        .await?;
        self.member_order(per_worker)
    }
}
