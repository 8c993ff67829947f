//! The page's side of the model worker: sending requests, applying replies
//! to the state, and replacing a worker that stopped.

use super::state::{AnalysisStatus, AppState, FaithfulnessStatus, GreyPreview, Levels, ModelStatus, Sensitivity};
use super::worker_build::{self, WorkerBuild};
use crate::protocol::{FromWorker, ToWorker};
use crate::transport;
use chexlens_images::levels::GreyLevels;
use js_sys::Uint8Array;
use leptos::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, Worker, WorkerOptions, WorkerType};

/// The worker's start script: named in the page by the build (it carries a
/// content hash), else the plain name.
fn worker_script() -> String {
    super::pwa::page_meta("chexlens-worker").unwrap_or_else(|| "./chexlens-worker_loader.js".into())
}

/// What the model worker may reach besides the page's origin: a model
/// manifest's origin, and the Hub (its origin, with the download hosts the
/// service worker adds for it) once the user loads from it.
#[derive(Clone, Default, PartialEq)]
pub struct Allowed {
    pub model_origin: Option<String>,
    pub hub_origin: Option<String>,
}

/// An encoded message and the buffers it transfers.
type Outgoing = (JsValue, js_sys::Array);

#[derive(Clone)]
pub struct WorkerClient {
    worker: Rc<RefCell<Option<Worker>>>,
    /// The build it runs (chosen once, when the page starts).
    build: Rc<RefCell<WorkerBuild>>,
    /// The other origins the worker may fetch a model from (its CSP, set by
    /// the service worker, allows only these and the page's own).
    allowed: Rc<RefCell<Allowed>>,
    /// Messages waiting for the worker to say it is ready.
    queue: Rc<RefCell<Option<Vec<Outgoing>>>>,
    state: AppState,
}

impl WorkerClient {
    /// Starts the worker the page's options and browser call for
    /// ([`worker_build::choose`]); requests wait in the queue meanwhile.
    pub fn start(state: AppState, backend: Option<crate::protocol::Backend>, threads: Option<usize>) -> Self {
        let client = Self {
            worker: Rc::new(RefCell::new(None)),
            build: Rc::new(RefCell::new(WorkerBuild::Plain)),
            allowed: Rc::new(RefCell::new(Allowed::default())),
            queue: Rc::new(RefCell::new(Some(Vec::new()))),
            state,
        };
        let starting = client.clone();
        wasm_bindgen_futures::spawn_local(async move {
            *starting.build.borrow_mut() = worker_build::choose(backend, threads).await;
            // What the page asked for meanwhile waits in the queue for it.
            starting.start_worker();
        });
        client
    }

    /// Starts a fresh worker in place of one that was stopped: requests
    /// sent to the old one are not sent again.
    fn spawn(&self) {
        *self.queue.borrow_mut() = Some(Vec::new());
        self.start_worker();
    }

    fn start_worker(&self) {
        let options = WorkerOptions::new();
        let (mut script, pool) = match &*self.build.borrow() {
            WorkerBuild::Threaded { script, threads } => {
                // A module worker: the threaded build's script imports its bindings.
                options.set_type(WorkerType::Module);
                (script.clone(), threads.map(|n| ("threads", n.to_string())))
            }
            WorkerBuild::Plain => (worker_script(), None),
        };
        let allowed = self.allowed.borrow();
        let query: Vec<String> = [("model-origin", &allowed.model_origin), ("hub", &allowed.hub_origin)]
            .into_iter()
            .filter_map(|(key, origin)| {
                origin
                    .as_ref()
                    .map(|o| format!("{key}={}", String::from(js_sys::encode_uri_component(o))))
            })
            .chain(pool.map(|(key, n)| format!("{key}={n}")))
            .collect();
        if !query.is_empty() {
            script = format!("{script}?{}", query.join("&"));
        }
        drop(allowed);
        let worker = match Worker::new_with_options(&script, &options) {
            Ok(w) => w,
            Err(_) => {
                self.state.model.set(ModelStatus::Error(
                    "this browser cannot start the analysis worker".into(),
                ));
                return;
            }
        };
        let state = self.state;
        let client = self.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            match transport::decode::<FromWorker>(&event.data()) {
                Some((FromWorker::Ready, _)) => client.flush(),
                Some((message, bytes)) => apply(state, message, bytes),
                None => {}
            }
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();

        let client = self.clone();
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
            event.prevent_default();
            // For developers only: what stopped it.
            if let Ok(text) = js_sys::Reflect::get(&event, &"message".into()) {
                web_sys::console::error_2(&"chexlens worker stopped:".into(), &text);
            }
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
        // A DICOM being read when it stopped stays unread; the image on screen stays.
        self.state.inspecting.set(None);
        self.state.batch.worker_stopped(message);
        if self.state.analysis.get_untracked() == AnalysisStatus::Running {
            self.state.analysis.set(AnalysisStatus::Error(message.into()));
        }
        self.state.error.set(Some(message.into()));
        self.spawn();
    }

    /// Makes sure the worker may fetch from exactly these origins (besides
    /// the page's own), replacing it when its allowance differs.
    pub fn allow(&self, allowed: Allowed) {
        if *self.allowed.borrow() == allowed {
            return;
        }
        *self.allowed.borrow_mut() = allowed;
        if let Some(old) = self.worker.borrow_mut().take() {
            old.terminate();
        }
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

/// A reply from the worker, applied to the page's state (every kind named
/// here, so that a new one cannot go unhandled).
fn apply(state: AppState, message: FromWorker, bytes: Vec<Uint8Array>) {
    match message {
        FromWorker::Ready => {}
        FromWorker::Progress { .. }
        | FromWorker::ModelReady(_)
        | FromWorker::ModelFailed { .. }
        | FromWorker::ModelTooLarge(_)
        | FromWorker::LoadCancelled => apply_load(state, message),
        FromWorker::Inspected { .. } | FromWorker::InspectFailed { .. } => apply_inspection(state, message, bytes),
        FromWorker::AnalysisDone { .. }
        | FromWorker::AnalysisFailed { .. }
        | FromWorker::HeatMapsDone { .. }
        | FromWorker::HeatMapsFailed { .. }
        | FromWorker::MemberHeatMapsDone { .. }
        | FromWorker::FaithfulnessProgress { .. }
        | FromWorker::FaithfulnessDone { .. }
        | FromWorker::FaithfulnessFailed { .. }
        | FromWorker::SensitivityDone { .. }
        | FromWorker::SensitivityFailed { .. } => apply_result(state, message),
    }
}

/// A model load's progress and outcome.
fn apply_load(state: AppState, message: FromWorker) {
    match message {
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
            // An open DICOM's tags still hold over the new model's defaults.
            let defaults = info.metadata_defaults;
            let dicom = state.dicom.get_untracked();
            state
                .metadata
                .set(dicom.map_or(defaults, |d| d.tags.apply_to(defaults)));
            state.model.set(ModelStatus::Ready(info));
            state.error.set(None);
        }
        FromWorker::ModelFailed { message } => {
            state.model.set(ModelStatus::Error(message.clone()));
            state.error.set(Some(message));
        }
        FromWorker::ModelTooLarge(too_large) => state.model.set(ModelStatus::TooLarge(too_large)),
        FromWorker::LoadCancelled => state.model.set(ModelStatus::None),
        _ => {}
    }
}

/// A decoded image's preview, levels and tags, or why it could not be decoded.
fn apply_inspection(state: AppState, message: FromWorker, bytes: Vec<Uint8Array>) {
    match message {
        FromWorker::Inspected {
            serial,
            width,
            height,
            source_width,
            dicom,
            levels,
        } => {
            let grey = bytes.first().map(|b| b.to_vec()).unwrap_or_default();
            let levels = levels.and_then(|info| {
                let words = bytes.get(1)?.to_vec();
                GreyLevels::from_le_bytes(*info, &words).map(|full| Levels::new(full, width, height))
            });
            if grey.len() == width * height {
                let preview = GreyPreview {
                    width,
                    height,
                    grey,
                    source_width,
                    levels,
                };
                state.inspected(serial, preview, dicom.map(|d| *d));
            }
        }
        FromWorker::InspectFailed { serial, message } if serial == state.last_serial.get_untracked() => {
            state.inspecting.set(None);
            state.error.set(Some(message));
        }
        _ => {}
    }
}

/// An analysis' results, heat maps and sensitivity: the batch's go to the
/// batch, the image in view's only while it is still the one awaited.
fn apply_result(state: AppState, message: FromWorker) {
    match message {
        FromWorker::AnalysisDone {
            id,
            probabilities,
            member_probabilities,
            elapsed_ms,
            metadata,
            warnings,
            typicality,
        } => {
            if state.batch.owns(id) {
                state.batch.finished(id, Ok((probabilities, metadata, warnings)));
            } else if id == state.pending.get_untracked() {
                state.analysis.set(AnalysisStatus::Done {
                    probabilities,
                    member_probabilities,
                    metadata,
                    elapsed_ms,
                    warnings,
                    typicality,
                });
            }
        }
        FromWorker::MemberHeatMapsDone {
            id,
            label,
            settings,
            maps,
        } if id == state.pending.get_untracked() && settings == state.cam_settings.get_untracked() => {
            state.member_heatmaps.update(|m| m.push((label, maps)));
        }
        FromWorker::FaithfulnessProgress {
            id,
            label,
            settings,
            done,
            total,
        } if id == state.pending.get_untracked() && settings == state.cam_settings.get_untracked() => {
            set_faithfulness(state, label, FaithfulnessStatus::Running { done, total });
        }
        FromWorker::FaithfulnessDone {
            id,
            label,
            settings,
            figures,
        } if id == state.pending.get_untracked() && settings == state.cam_settings.get_untracked() => {
            set_faithfulness(state, label, FaithfulnessStatus::Done(figures));
        }
        FromWorker::FaithfulnessFailed {
            id,
            label,
            settings,
            message,
        } if id == state.pending.get_untracked() && settings == state.cam_settings.get_untracked() => {
            set_faithfulness(state, label, FaithfulnessStatus::Failed(message));
        }
        FromWorker::SensitivityDone {
            id,
            changes,
            elapsed_ms,
        } if id == state.pending.get_untracked() => {
            state.sensitivity.set(Sensitivity::Done { changes, elapsed_ms });
        }
        FromWorker::SensitivityFailed { id, message } if id == state.pending.get_untracked() => {
            state.sensitivity.set(Sensitivity::Failed(message));
        }
        FromWorker::HeatMapsDone { id, settings, maps } => {
            if state.batch.owns(id) {
                state.batch.maps_finished(id, Some(maps));
            } else if id == state.pending.get_untracked() && settings == state.cam_settings.get_untracked() {
                state.heatmaps.update(|h| h.extend(maps));
            }
        }
        FromWorker::HeatMapsFailed { id, message } => {
            if state.batch.owns(id) {
                // The image's probabilities stand; only its overlays are missing.
                state.batch.maps_finished(id, None);
            } else if id == state.pending.get_untracked() {
                // What never came is no longer counted as under way.
                let received: Vec<usize> = state.heatmaps.with_untracked(|h| h.iter().map(|(l, _)| *l).collect());
                state.heatmaps_requested.set(received);
                state
                    .error
                    .set(Some(format!("Heat maps could not be computed: {message}")));
            }
        }
        FromWorker::AnalysisFailed { id, message } => {
            if state.batch.owns(id) {
                state.batch.finished(id, Err(message));
            } else if id == state.pending.get_untracked() {
                state.analysis.set(AnalysisStatus::Error(message.clone()));
                state.error.set(Some(message));
            }
        }
        _ => {}
    }
}

/// A label's faithfulness status, in place of what it was (a late progress
/// report never overwrites a result).
fn set_faithfulness(state: AppState, label: usize, status: FaithfulnessStatus) {
    state.faithfulness.update(|all| {
        let current = all.iter_mut().find(|(l, _)| *l == label);
        match current {
            Some((_, FaithfulnessStatus::Done(_))) if matches!(status, FaithfulnessStatus::Running { .. }) => {}
            Some((_, existing)) => *existing = status,
            None => all.push((label, status)),
        }
    });
}
