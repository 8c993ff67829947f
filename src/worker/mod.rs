//! The model worker: owns the ensemble and runs every load and analysis off
//! the page's main thread.

mod backend;
mod fetch;
mod loading;

use crate::protocol::{FromWorker, LoadStage, ModelInfo, ModelSource, ToWorker};
use crate::transport;
use chexlens_model::gradcam::CamTarget;
use chexlens_model::model::BackboneState;
use chexlens_model::{Device, Ensemble, ResizeFilter, XrayImage, decode_xray};
use js_sys::Uint8Array;
use loading::{LoadError, Loader};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use web_sys::{AbortController, DedicatedWorkerGlobalScope, MessageEvent};

/// An analysed image's backbone states (one per member), kept so that its
/// heat maps run only the layers after Grad-CAM's target (the metadata does
/// not change them).
struct LastInputs {
    id: u32,
    states: Vec<BackboneState>,
}

/// The preview of an inspected DICOM fits in this square (the page's canvas).
const PREVIEW_SIZE: usize = 512;

#[derive(Default)]
struct State {
    ensemble: Option<Rc<Ensemble>>,
    last: Option<Rc<LastInputs>>,
    /// The last inspected DICOM, decoded, so that its analysis does not decode it again.
    inspected: Option<(u32, Rc<XrayImage>)>,
    webgpu: Option<Device>,
    loading: Option<AbortController>,
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

/// Decodes a DICOM, keeps it for the analysis to come, and sends back its
/// tags and a grey preview.
fn inspect(state: &RefCell<State>, serial: u32, file_name: &str, bytes: &[u8]) {
    let loaded = match decode_xray(bytes) {
        Ok(loaded) => loaded,
        Err(e) => {
            post(&FromWorker::InspectFailed {
                serial,
                message: format!("{file_name}: {e}"),
            });
            return;
        }
    };
    let Some(dicom) = loaded.dicom else {
        post(&FromWorker::InspectFailed {
            serial,
            message: format!("{file_name}: not a DICOM file"),
        });
        return;
    };
    let image = loaded.image;
    let scale = (PREVIEW_SIZE as f64 / image.width.max(image.height) as f64).min(1.0);
    let (width, height) = (
        ((image.width as f64 * scale).round() as usize).max(1),
        ((image.height as f64 * scale).round() as usize).max(1),
    );
    // Colour DICOMs preview as their first plane's grey: enough to check the image.
    let preview = chexlens_model::preprocess::resize_plane(
        &image.planes[0],
        image.width,
        image.height,
        width,
        height,
        ResizeFilter::Bilinear,
    );
    state.borrow_mut().inspected = Some((serial, Rc::new(image)));
    post_with(
        &FromWorker::Inspected {
            serial,
            width,
            height,
            dicom,
        },
        vec![Uint8Array::from(preview.as_slice())],
    );
}

/// Starts the worker: from now on it answers the page's messages.
pub fn run() {
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
        ToWorker::CancelLoad => {
            if let Some(controller) = state.borrow_mut().loading.take() {
                controller.abort();
            }
        }
        ToWorker::LoadModel { source, backend } => load(state, source, backend, bytes).await,
        ToWorker::Inspect { serial, file_name } => match bytes.first() {
            Some(file) => inspect(&state, serial, &file_name, &file.to_vec()),
            None => post(&FromWorker::InspectFailed {
                serial,
                message: format!("{file_name}: no file data received"),
            }),
        },
        ToWorker::Analyse {
            id,
            serial,
            file_name,
            metadata,
        } => {
            let ensemble = state.borrow().ensemble.clone();
            let reply = match (ensemble, bytes.first()) {
                (None, _) => FromWorker::AnalysisFailed {
                    id,
                    message: "load a model first".into(),
                },
                (_, None) => FromWorker::AnalysisFailed {
                    id,
                    message: format!("{file_name}: no image data received"),
                },
                (Some(ensemble), Some(file)) => {
                    let started = js_sys::Date::now();
                    let inspected = match &state.borrow().inspected {
                        Some((s, image)) if *s == serial => Some(image.clone()),
                        _ => None,
                    };
                    let image = match inspected {
                        Some(image) => Ok(image),
                        None => decode_xray(&file.to_vec())
                            .map(|l| Rc::new(l.image))
                            .map_err(|e| e.to_string()),
                    };
                    match analyse(&ensemble, image, &metadata).await {
                        Ok((probabilities, states)) => {
                            state.borrow_mut().last = Some(Rc::new(LastInputs { id, states }));
                            FromWorker::AnalysisDone {
                                id,
                                probabilities,
                                elapsed_ms: js_sys::Date::now() - started,
                            }
                        }
                        Err(message) => FromWorker::AnalysisFailed {
                            id,
                            message: format!("{file_name}: {message}"),
                        },
                    }
                }
            };
            post(&reply);
        }
        ToWorker::HeatMaps { id, labels } => {
            let (ensemble, last) = {
                let s = state.borrow();
                (s.ensemble.clone(), s.last.clone())
            };
            let reply = match (ensemble, last) {
                (Some(ensemble), Some(last)) if last.id == id => {
                    let target = CamTarget::default();
                    match ensemble.grad_cam_async(&last.states, &labels, target).await {
                        Ok(maps) => FromWorker::HeatMapsDone {
                            id,
                            maps: labels.into_iter().zip(maps).collect(),
                        },
                        Err(message) => FromWorker::HeatMapsFailed { id, message },
                    }
                }
                _ => FromWorker::HeatMapsFailed {
                    id,
                    message: "that analysis is no longer current".into(),
                },
            };
            post(&reply);
        }
    }
}

async fn analyse(
    ensemble: &Ensemble,
    image: Result<Rc<XrayImage>, String>,
    metadata: &chexlens_model::Metadata,
) -> Result<(Vec<f32>, Vec<BackboneState>), String> {
    let (images, meta) = ensemble.inputs(&*image?, metadata);
    let states = ensemble.backbone_states(&images);
    let prediction = ensemble.predict_states_async(&states, &meta).await?;
    Ok((prediction.probabilities, states))
}

async fn load(
    state: Rc<RefCell<State>>,
    source: ModelSource,
    request: crate::protocol::BackendRequest,
    files: Vec<Uint8Array>,
) {
    let Ok(controller) = AbortController::new() else {
        post(&FromWorker::ModelFailed {
            message: "the browser cannot run a cancellable load".into(),
        });
        return;
    };
    // A new load replaces (and stops) any load still running.
    if let Some(previous) = state.borrow_mut().loading.replace(controller.clone()) {
        previous.abort();
    }
    let signal = controller.signal();
    let mut webgpu = state.borrow().webgpu.clone();
    let selected = backend::select(request, &mut webgpu).await;
    state.borrow_mut().webgpu = webgpu;
    let (device, backend) = match selected {
        Ok(d) => d,
        Err(message) => {
            post(&FromWorker::ModelFailed { message });
            return;
        }
    };
    let progress = |stage: LoadStage, done: u64, total: Option<u64>, file: &str| {
        post(&FromWorker::Progress {
            stage,
            done,
            total,
            file: file.to_string(),
        });
    };
    let loader = Loader {
        signal: &signal,
        progress: &progress,
    };
    let result = loader.load(source, files, device).await;
    let still_current = state.borrow().loading.as_ref().is_some_and(|c| c.signal() == signal);
    if still_current {
        state.borrow_mut().loading = None;
    }
    match result {
        Ok(loaded) => {
            let settings = &loaded.ensemble.settings;
            let info = ModelInfo {
                name: loaded.name.clone(),
                demo: loaded.demo,
                members: loaded.ensemble.members.len(),
                backend,
                labels: settings.labels.clone(),
                thresholds: settings.thresholds.clone(),
                metadata_defaults: settings.metadata.defaults,
                offline: loaded.offline,
            };
            state.borrow_mut().ensemble = Some(Rc::new(loaded.ensemble));
            post(&FromWorker::ModelReady(info));
        }
        Err(LoadError::Cancelled) => {
            if still_current {
                post(&FromWorker::LoadCancelled);
            }
        }
        Err(LoadError::Failed(message)) => post(&FromWorker::ModelFailed { message }),
    }
}
