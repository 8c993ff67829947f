//! The model worker: owns the ensemble (or the member workers that hold its
//! members) and runs every load and analysis off the page's main thread.

mod backend;
mod engine;
mod faults;
mod fetch;
mod hub;
mod load_error;
mod loading;
mod members;
mod reference;
mod threads;

use chexlens_chexpert::metadata::Metadata;
use chexlens_chexpert::metadata::{MetadataChange, sensitivity_changes};
use chexlens_images::cam::{CamMap, CamSettings};
use chexlens_images::image::XrayImage;
use chexlens_images::input::{ImageError, LoadedXray, decode_xray, decode_xray_frame_with_levels};
use chexlens_images::preprocess::ResizeFilter;
use chexlens_images::suitability::Warning;
use chexlens_model::{Device, Prediction};
use chexlens_reference::assessment::{Assessment, assess_image};
use chexlens_web::protocol::{
    Backend, FromWorker, LoadStage, ModelInfo, ModelSource, ReferenceSummary, ToWorker, preview_dimensions,
};
use chexlens_web::transport;
use engine::{Engine, EngineError, EnginePlan};
use js_sys::Uint8Array;
use load_error::LoadError;
use loading::Loader;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use web_sys::{AbortController, DedicatedWorkerGlobalScope, MessageEvent};

#[derive(Default)]
struct State {
    engine: Option<Rc<Engine>>,
    /// The last inspected DICOM, decoded, so that its analysis does not decode it again.
    inspected: Option<(u32, Rc<Decoded>)>,
    /// The batch's next image, decoded ahead for analysis id (or why it could not be).
    prepared: Option<(u32, Result<LoadedXray, String>)>,
    webgpu: Option<Device>,
    loading: Option<AbortController>,
}

/// An image as analysed: its pixels, and what its file said about it.
struct Decoded {
    image: XrayImage,
    warnings: Vec<Warning>,
}

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn post(message: &FromWorker) {
    post_with(message, Vec::new());
}

fn post_with(message: &FromWorker, bytes: Vec<Uint8Array>) {
    let (value, transfer) = transport::encode(message, bytes);
    let _ = scope().post_message_with_transfer(&value, &transfer);
}

/// Decodes a DICOM's frame (or a grey PNG or JPEG), keeps it for the
/// analysis to come, and sends back its tags, a grey preview and its
/// values at full depth.
fn inspect(state: &RefCell<State>, serial: u32, file_name: &str, frame: u32, bytes: &[u8]) {
    let loaded = match decode_xray_frame_with_levels(bytes, frame) {
        Ok(loaded) => loaded,
        Err(e) => {
            post(&FromWorker::InspectFailed {
                serial,
                message: format!("{file_name}: {e}"),
            });
            return;
        }
    };
    let image = &loaded.image;
    let (width, height) = preview_dimensions(image.width, image.height);
    // Colour DICOMs preview as their first plane's grey: enough to check the image.
    let preview = chexlens_images::preprocess::resize_plane(
        &image.planes[0],
        image.width,
        image.height,
        width,
        height,
        ResizeFilter::Bilinear,
    );
    let mut buffers = vec![Uint8Array::from(preview.as_slice())];
    if let Some(levels) = &loaded.levels {
        buffers.push(Uint8Array::from(levels.to_le_bytes().as_slice()));
    }
    post_with(
        &FromWorker::Inspected {
            serial,
            width,
            height,
            source_width: loaded.image.width,
            dicom: loaded.dicom.map(Box::new),
            levels: loaded.levels.map(|l| Box::new(l.info)),
        },
        buffers,
    );
    let decoded = Decoded {
        image: loaded.image,
        warnings: loaded.warnings,
    };
    state.borrow_mut().inspected = Some((serial, Rc::new(decoded)));
}

/// Starts the worker: from now on it answers the page's messages (or, as
/// a member worker, the model worker's).
pub fn run() {
    if threads::is_pool_helper() {
        return;
    }
    // The page's (or the model worker's) messages wait until Ready: the pool first.
    wasm_bindgen_futures::spawn_local(async {
        threads::start_pool().await;
        if members::is_member_worker() {
            members::run_member();
        } else {
            listen();
        }
    });
}

fn listen() {
    let state = Rc::new(RefCell::new(State::default()));
    let handler = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let Some((message, bytes)) = transport::decode::<ToWorker>(&event.data()) else {
            return;
        };
        let state = state.clone();
        wasm_bindgen_futures::spawn_local(handle(state, message, bytes));
    });
    scope().set_onmessage(Some(handler.as_ref().unchecked_ref()));
    handler.forget();
    post(&FromWorker::Ready);
}

async fn handle(state: Rc<RefCell<State>>, message: ToWorker, bytes: Vec<Uint8Array>) {
    match message {
        ToWorker::CancelLoad => cancel_load(&state),
        ToWorker::LoadModel {
            source,
            backend,
            workers,
            members,
            memory_gb,
        } => load(state, source, backend, (workers, members, memory_gb), bytes).await,
        ToWorker::Inspect {
            serial,
            file_name,
            frame,
        } => match bytes.first() {
            Some(file) => inspect(&state, serial, &file_name, frame, &file.to_vec()),
            None => post(&FromWorker::InspectFailed {
                serial,
                message: format!("{file_name}: no file data received"),
            }),
        },
        ToWorker::Prepare { id, .. } => prepare(&state, id, bytes.first()),
        ToWorker::Analyse {
            id,
            serial,
            file_name,
            metadata,
            file_tags_first,
        } => {
            let asked = Asked {
                id,
                serial,
                metadata,
                file_tags_first,
            };
            post(&analysis_reply(&state, asked, &file_name, bytes.first()).await);
        }
        ToWorker::MemberHeatMaps { id, label, settings } => {
            post(&member_heat_maps_reply(&state, id, label, settings).await)
        }
        ToWorker::Faithfulness {
            id,
            label,
            settings,
            metadata,
        } => post(&faithfulness_reply(&state, id, label, settings, &metadata).await),
        ToWorker::Sensitivity { id, metadata } => post(&sensitivity_reply(&state, id, &metadata).await),
        ToWorker::HeatMaps { id, labels, settings } => post(&heat_maps_reply(&state, id, labels, settings).await),
    }
}

/// Decodes the batch's next image ahead of its analysis `id`.
fn prepare(state: &RefCell<State>, id: u32, file: Option<&Uint8Array>) {
    // Decoded at once, with no await: the Analyse that follows this
    // message finds it ready.
    let decoded = match file {
        Some(file) => decode_xray(&file.to_vec()).map_err(|e| e.to_string()),
        None => Err(RequestError::NoImage.to_string()),
    };
    state.borrow_mut().prepared = Some((id, decoded));
}

async fn analysis_reply(
    state: &RefCell<State>,
    asked: Asked,
    file_name: &str,
    file: Option<&Uint8Array>,
) -> FromWorker {
    let id = asked.id;
    match analyse(state, asked, file).await {
        Ok(done) => FromWorker::AnalysisDone {
            id,
            member_probabilities: done.prediction.member_probabilities(),
            probabilities: done.prediction.probabilities,
            elapsed_ms: done.elapsed_ms,
            metadata: done.metadata,
            warnings: done.assessment.warnings,
            typicality: done.assessment.typicality,
        },
        Err(e) => FromWorker::AnalysisFailed {
            id,
            message: format!("{file_name}: {e}"),
        },
    }
}

async fn member_heat_maps_reply(state: &RefCell<State>, id: u32, label: usize, settings: CamSettings) -> FromWorker {
    match member_heat_maps(state, id, label, settings).await {
        Ok(maps) => FromWorker::MemberHeatMapsDone {
            id,
            label,
            settings,
            maps,
        },
        Err(e) => FromWorker::HeatMapsFailed {
            id,
            message: e.to_string(),
        },
    }
}

async fn sensitivity_reply(state: &RefCell<State>, id: u32, metadata: &Metadata) -> FromWorker {
    match sensitivity(state, id, metadata).await {
        Ok((changes, elapsed_ms)) => FromWorker::SensitivityDone {
            id,
            changes,
            elapsed_ms,
        },
        Err(e) => FromWorker::SensitivityFailed {
            id,
            message: e.to_string(),
        },
    }
}

async fn heat_maps_reply(state: &RefCell<State>, id: u32, labels: Vec<usize>, settings: CamSettings) -> FromWorker {
    match heat_maps(state, id, &labels, settings).await {
        Ok(maps) => FromWorker::HeatMapsDone {
            id,
            settings,
            maps: labels.into_iter().zip(maps).collect(),
        },
        Err(e) => FromWorker::HeatMapsFailed {
            id,
            message: e.to_string(),
        },
    }
}

async fn faithfulness_reply(
    state: &RefCell<State>,
    id: u32,
    label: usize,
    settings: CamSettings,
    metadata: &Metadata,
) -> FromWorker {
    let engine = match state.borrow().engine.clone() {
        Some(engine) => engine,
        None => {
            return FromWorker::FaithfulnessFailed {
                id,
                label,
                settings,
                message: RequestError::NotCurrent.to_string(),
            };
        }
    };
    let progress = |done, total| {
        post(&FromWorker::FaithfulnessProgress {
            id,
            label,
            settings,
            done,
            total,
        })
    };
    match engine.faithfulness(id, label, settings, metadata, progress).await {
        Ok(figures) => FromWorker::FaithfulnessDone {
            id,
            label,
            settings,
            figures,
        },
        Err(e) => FromWorker::FaithfulnessFailed {
            id,
            label,
            settings,
            message: forget_lost_model(state, &engine, e),
        },
    }
}

fn cancel_load(state: &RefCell<State>) {
    if let Some(controller) = state.borrow_mut().loading.take() {
        controller.abort();
    }
}

/// Why a request about an image could not be answered.
#[derive(Debug, thiserror::Error)]
enum RequestError {
    #[error("load a model first")]
    NoModel,
    #[error("no image data received")]
    NoImage,
    #[error("{0}")]
    Image(#[from] ImageError),
    /// The image decoded ahead could not be (the message names the file).
    #[error("{0}")]
    Prepared(String),
    #[error("{}", faults::NOT_CURRENT)]
    NotCurrent,
    /// The engine failed (a lost model has been dropped already).
    #[error("{0}")]
    Engine(String),
}

/// What an analysis request asks for.
struct Asked {
    id: u32,
    serial: u32,
    metadata: Metadata,
    file_tags_first: bool,
}

/// A finished analysis, the metadata it used and how long it took.
struct Analysed {
    prediction: Prediction,
    /// The file's warnings and the distance to the reference radiographs.
    assessment: Assessment,
    metadata: Metadata,
    elapsed_ms: f64,
}

/// Analysis `id` of image `serial`: the DICOM inspected before it, else the file's bytes.
async fn analyse(state: &RefCell<State>, asked: Asked, file: Option<&Uint8Array>) -> Result<Analysed, RequestError> {
    let engine = state.borrow().engine.clone().ok_or(RequestError::NoModel)?;
    let started = js_sys::Date::now();
    let inspected = match &state.borrow().inspected {
        Some((s, image)) if *s == asked.serial => Some(image.clone()),
        _ => None,
    };
    // Taken only by its own analysis: the image in view's leaves it be.
    let prepared = {
        let mut state = state.borrow_mut();
        match &state.prepared {
            Some((id, _)) if *id == asked.id => state.prepared.take().map(|(_, decoded)| decoded),
            _ => None,
        }
    };
    let mut metadata = asked.metadata;
    let decoded = match inspected {
        Some(decoded) => decoded,
        None => {
            let loaded = match (file, prepared) {
                (Some(file), _) => decode_xray(&file.to_vec())?,
                (None, Some(decoded)) => decoded.map_err(RequestError::Prepared)?,
                (None, None) => return Err(RequestError::NoImage),
            };
            if let (true, Some(dicom)) = (asked.file_tags_first, &loaded.dicom) {
                metadata = dicom.tags.apply_to(metadata);
            }
            Rc::new(Decoded {
                image: loaded.image,
                warnings: loaded.warnings,
            })
        }
    };
    let done = engine
        .analyse(asked.id, &decoded.image, &metadata)
        .await
        .map_err(|e| RequestError::Engine(forget_lost_model(state, &engine, e)))?;
    let assessment = assess_image(
        decoded.warnings.clone(),
        engine.reference.as_ref(),
        &done.member_features,
    )
    .map_err(|e| RequestError::Engine(e.to_string()))?;
    Ok(Analysed {
        prediction: done.prediction,
        assessment,
        metadata,
        elapsed_ms: js_sys::Date::now() - started,
    })
}

async fn heat_maps(
    state: &RefCell<State>,
    id: u32,
    labels: &[usize],
    settings: CamSettings,
) -> Result<Vec<CamMap>, RequestError> {
    let engine = state.borrow().engine.clone().ok_or(RequestError::NotCurrent)?;
    engine
        .heat_maps(id, labels, settings)
        .await
        .map_err(|e| RequestError::Engine(forget_lost_model(state, &engine, e)))
}

/// Each member's map of analysis `id` for one label, in member order.
async fn member_heat_maps(
    state: &RefCell<State>,
    id: u32,
    label: usize,
    settings: CamSettings,
) -> Result<Vec<CamMap>, RequestError> {
    let engine = state.borrow().engine.clone().ok_or(RequestError::NotCurrent)?;
    let per_member = engine
        .member_heat_maps(id, &[label], settings)
        .await
        .map_err(|e| RequestError::Engine(forget_lost_model(state, &engine, e)))?;
    Ok(per_member
        .into_iter()
        .filter_map(|maps| maps.into_iter().next())
        .collect())
}

/// The ensemble's probabilities under each metadata change, from analysis
/// `id`'s kept backbone passes, and the milliseconds they took.
async fn sensitivity(
    state: &RefCell<State>,
    id: u32,
    metadata: &Metadata,
) -> Result<(Vec<(MetadataChange, Vec<f32>)>, f64), RequestError> {
    let engine = state.borrow().engine.clone().ok_or(RequestError::NotCurrent)?;
    let started = js_sys::Date::now();
    let mut results = Vec::new();
    for change in sensitivity_changes(metadata) {
        let prediction = engine
            .with_metadata(id, &change.metadata)
            .await
            .map_err(|e| RequestError::Engine(forget_lost_model(state, &engine, e)))?;
        results.push((change, prediction.probabilities));
    }
    Ok((results, js_sys::Date::now() - started))
}

/// A model that can no longer run is dropped, and the page told to load
/// it again; the error's message is what the failed request reports.
fn forget_lost_model(state: &RefCell<State>, engine: &Rc<Engine>, error: EngineError) -> String {
    let current = state.borrow().engine.as_ref().is_some_and(|e| Rc::ptr_eq(e, engine));
    if error.lost && current {
        state.borrow_mut().engine = None;
        post(&FromWorker::ModelFailed {
            message: error.message.clone(),
        });
    }
    error.message
}

/// Member workers cost memory: each keeps its own high-water mark from
/// reading its weights (README, "The page", has the measured figures).
/// Below this much reported memory every member stays in this worker.
const MEMBER_WORKERS_MIN_GB: f64 = 8.0;

/// Member workers: one per member on a machine with several cores and
/// memory to spare (`navigator.deviceMemory`, where the browser reports it).
fn default_parallelism() -> usize {
    let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let navigator = scope.navigator();
    let cores = navigator.hardware_concurrency() as usize;
    let memory_gb = js_sys::Reflect::get(&navigator, &"deviceMemory".into())
        .ok()
        .and_then(|m| m.as_f64());
    let enough_memory = memory_gb.is_none_or(|gb| gb >= MEMBER_WORKERS_MIN_GB);
    if cores > 1 && enough_memory { usize::MAX } else { 1 }
}

async fn load(
    state: Rc<RefCell<State>>,
    source: ModelSource,
    request: chexlens_web::protocol::BackendRequest,
    (workers, member_limit, memory_gb): (Option<usize>, Option<usize>, Option<f64>),
    files: Vec<Uint8Array>,
) {
    let Some(controller) = start_load(&state) else {
        return;
    };
    let signal = controller.signal();
    let (device, backend) = match select_backend(&state, request).await {
        Ok(d) => d,
        Err(message) => {
            post(&FromWorker::ModelFailed { message });
            return;
        }
    };
    let plan = EnginePlan {
        device,
        backend,
        parallel: workers.unwrap_or_else(default_parallelism).max(1),
    };
    let loader = Loader {
        signal: &signal,
        progress: &post_progress,
        plan: &plan,
        member_limit,
        memory_gb,
        members: Cell::new(0),
        fit_checked: Cell::new(false),
    };
    let result = loader.load(source, files).await;
    let still_current = state.borrow().loading.as_ref().is_some_and(|c| c.signal() == signal);
    if still_current {
        state.borrow_mut().loading = None;
    }
    match result {
        Ok(loaded) => model_ready(&state, loaded, backend),
        Err(LoadError::Cancelled) => {
            if still_current {
                post(&FromWorker::LoadCancelled);
            }
        }
        Err(LoadError::Failed(message)) => post(&FromWorker::ModelFailed { message }),
        Err(LoadError::TooLarge(too_large)) => post(&FromWorker::ModelTooLarge(too_large)),
    }
}

/// The controller of a new load; `None`, and the page told, where the
/// browser cannot make one.
fn start_load(state: &RefCell<State>) -> Option<AbortController> {
    let Ok(controller) = AbortController::new() else {
        post(&FromWorker::ModelFailed {
            message: "the browser cannot run a cancellable load".into(),
        });
        return None;
    };
    // A new load replaces (and stops) any load still running.
    if let Some(previous) = state.borrow_mut().loading.replace(controller.clone()) {
        previous.abort();
    }
    Some(controller)
}

/// The device and backend to load onto, keeping the WebGPU device for the
/// loads to come.
async fn select_backend(
    state: &RefCell<State>,
    request: chexlens_web::protocol::BackendRequest,
) -> Result<(Device, Backend), String> {
    let mut webgpu = state.borrow().webgpu.clone();
    let selected = backend::select(request, &mut webgpu).await;
    state.borrow_mut().webgpu = webgpu;
    selected
}

fn post_progress(stage: LoadStage, done: u64, total: Option<u64>, file: &str) {
    post(&FromWorker::Progress {
        stage,
        done,
        total,
        file: file.to_string(),
    });
}

/// The loaded model becomes the worker's engine, and the page is told what
/// it is.
fn model_ready(state: &RefCell<State>, loaded: loading::Loaded, backend: Backend) {
    let engine = loaded.engine;
    let settings = engine.settings();
    let info = ModelInfo {
        name: loaded.name.clone(),
        demo: loaded.demo,
        members: engine.members(),
        workers: engine.workers(),
        // Member workers run on one thread each.
        threads: if backend == Backend::Cpu && engine.workers() == 1 {
            threads::threads()
        } else {
            1
        },
        backend,
        labels: settings.labels.clone(),
        thresholds: settings.thresholds.clone(),
        metadata_defaults: settings.metadata.defaults,
        offline: loaded.offline,
        input: settings.input.clone(),
        member_sha256: loaded.member_sha256.clone(),
        of_members: loaded.of_members,
        reference: engine.reference.as_ref().map(|r| ReferenceSummary {
            images: r.images,
            percentile: r.percentile,
        }),
    };
    state.borrow_mut().engine = Some(Rc::new(engine));
    post(&FromWorker::ModelReady(info));
}
