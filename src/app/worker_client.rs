//! The page's side of the model worker: sending requests, applying replies
//! to the state, and replacing a worker that stopped.

use super::state::{AnalysisStatus, AppState, ModelStatus};
use crate::protocol::{FromWorker, ToWorker};
use crate::transport;
use js_sys::Uint8Array;
use leptos::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, Worker, WorkerOptions};

/// Written by trunk next to the page (data-loader-shim on the worker).
const WORKER_SCRIPT: &str = "./chexlens-worker_loader.js";

/// An encoded message and the buffers it transfers.
type Outgoing = (JsValue, js_sys::Array);

#[derive(Clone)]
pub struct WorkerClient {
    worker: Rc<RefCell<Option<Worker>>>,
    /// Messages waiting for the worker to say it is ready.
    queue: Rc<RefCell<Option<Vec<Outgoing>>>>,
    state: AppState,
}

impl WorkerClient {
    pub fn start(state: AppState) -> Self {
        let client = Self {
            worker: Rc::new(RefCell::new(None)),
            queue: Rc::new(RefCell::new(Some(Vec::new()))),
            state,
        };
        client.spawn();
        client
    }

    fn spawn(&self) {
        let options = WorkerOptions::new();
        let worker = match Worker::new_with_options(WORKER_SCRIPT, &options) {
            Ok(w) => w,
            Err(_) => {
                self.state.model.set(ModelStatus::Error(
                    "this browser cannot start the analysis worker".into(),
                ));
                return;
            }
        };
        *self.queue.borrow_mut() = Some(Vec::new());
        let state = self.state;
        let client = self.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            match transport::decode::<FromWorker>(&event.data()) {
                Some((FromWorker::Ready, _)) => client.flush(),
                Some((message, _)) => apply(state, message),
                None => {}
            }
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();

        let client = self.clone();
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
            event.prevent_default();
            client.recover();
        });
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        on_error.forget();
        *self.worker.borrow_mut() = Some(worker);
    }

    /// The worker stopped (out of memory, an internal fault): say so, start a
    /// fresh one, and keep the image so the user loses nothing.
    fn recover(&self) {
        if let Some(old) = self.worker.borrow_mut().take() {
            old.terminate();
        }
        let message = "The analysis engine stopped unexpectedly and was restarted. Load the model again to continue.";
        self.state.model.set(ModelStatus::Error(message.into()));
        if self.state.analysis.get_untracked() == AnalysisStatus::Running {
            self.state.analysis.set(AnalysisStatus::Error(message.into()));
        }
        self.state.error.set(Some(message.into()));
        self.spawn();
    }

    pub fn send(&self, message: &ToWorker, bytes: Vec<Uint8Array>) {
        let (value, transfer) = transport::encode(message, bytes);
        if let Some(queue) = self.queue.borrow_mut().as_mut() {
            queue.push((value, transfer));
            return;
        }
        self.post(&value, &transfer);
    }

    fn post(&self, value: &JsValue, transfer: &js_sys::Array) {
        if let Some(worker) = self.worker.borrow().as_ref()
            && worker.post_message_with_transfer(value, transfer).is_err()
        {
            self.state
                .error
                .set(Some("the analysis worker could not be reached".into()));
        }
    }

    /// The worker is listening: send what waited for it.
    fn flush(&self) {
        let waiting = self.queue.borrow_mut().take().unwrap_or_default();
        for (value, transfer) in waiting {
            self.post(&value, &transfer);
        }
    }
}

fn apply(state: AppState, message: FromWorker) {
    match message {
        FromWorker::Ready => {}
        FromWorker::Progress {
            stage,
            done,
            total,
            file,
        } => {
            state.model.set(ModelStatus::Loading {
                stage,
                done,
                total,
                file,
            });
        }
        FromWorker::ModelReady(info) => {
            state.threshold.set(info.thresholds.default);
            state.metadata.set(info.metadata_defaults);
            state.model.set(ModelStatus::Ready(info));
            state.error.set(None);
        }
        FromWorker::ModelFailed { message } => {
            state.model.set(ModelStatus::Error(message.clone()));
            state.error.set(Some(message));
        }
        FromWorker::LoadCancelled => state.model.set(ModelStatus::None),
        FromWorker::AnalysisDone {
            id,
            probabilities,
            elapsed_ms,
        } => {
            if id == state.pending.get_untracked() {
                state.analysis.set(AnalysisStatus::Done {
                    probabilities,
                    elapsed_ms,
                });
            }
        }
        FromWorker::HeatMapsDone { id, maps } => {
            if id == state.pending.get_untracked() {
                state.heatmaps.update(|h| h.extend(maps));
            }
        }
        FromWorker::HeatMapsFailed { id, message } => {
            if id == state.pending.get_untracked() {
                state
                    .error
                    .set(Some(format!("Heat maps could not be computed: {message}")));
            }
        }
        FromWorker::AnalysisFailed { id, message } => {
            if id == state.pending.get_untracked() {
                state.analysis.set(AnalysisStatus::Error(message.clone()));
                state.error.set(Some(message));
            }
        }
    }
}
