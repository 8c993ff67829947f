//! The page: model loading, image input, metadata, results.

mod banner;
mod batch;
mod dicom_export;
mod download;
mod folding_panel;
mod heatmaps;
mod hub_form;
mod image_panel;
mod metadata_form;
mod model_panel;
mod offline_models;
mod pwa;
mod report;
mod results;
mod save;
mod sensitivity;
mod state;
mod suitability;
mod viewer;
mod window_level;
mod worker_build;
mod worker_client;

use crate::protocol::{Backend, ModelSource, ToWorker};
use banner::Banner;
use batch::Batch;
use chexlens_images::cam::CamSettings;
use heatmaps::HeatMaps;
use image_panel::ImagePanel;
use js_sys::Uint8Array;
use leptos::prelude::*;
use metadata_form::MetadataForm;
use model_panel::ModelPanel;
use offline_models::OfflineModels;
use results::Results;
pub use state::{
    AnalysisStatus, AppState, FaithfulnessStatus, FromFile, GreyPreview, ImageFile, Levels, ModelStatus, Preview,
    Sensitivity,
};
use worker_client::{Allowed, WorkerClient};

/// Page options from the address: `?backend=cpu|webgpu`, `?model=URL`,
/// `?workers=N` (the most workers the CPU backend spreads members over),
/// `?threads=N` (the threaded worker's pool; 0: the plain worker).
#[derive(Clone, Debug, Default)]
pub struct PageOptions {
    pub backend: Option<Backend>,
    pub workers: Option<usize>,
    pub threads: Option<usize>,
    pub model_url: Option<String>,
    /// `?prefetch=0`: the batch reads and decodes each image only when its
    /// turn comes (to measure what reading ahead gains).
    pub prefetch: bool,
}

impl PageOptions {
    fn from_location() -> Self {
        let search = web_sys::window()
            .and_then(|w| w.location().search().ok())
            .unwrap_or_default();
        let params = web_sys::UrlSearchParams::new_with_str(&search).ok();
        let get = |k: &str| params.as_ref().and_then(|p| p.get(k)).filter(|v| !v.is_empty());
        Self {
            backend: match get("backend").as_deref() {
                Some("cpu") => Some(Backend::Cpu),
                Some("webgpu") => Some(Backend::Webgpu),
                _ => None,
            },
            workers: get("workers").and_then(|n| n.parse().ok()),
            threads: get("threads").and_then(|n| n.parse().ok()),
            model_url: get("model"),
            prefetch: get("prefetch").as_deref() != Some("0"),
        }
    }
}

/// What components call to reach the worker (a `Copy` handle to it).
#[derive(Clone, Copy)]
pub struct Actions {
    client: StoredValue<WorkerClient, LocalStorage>,
    state: AppState,
    backend: StoredValue<Option<Backend>>,
    workers: StoredValue<Option<usize>>,
    /// What the last model load was asked of, kept only while it loads or
    /// its offer to load less is open (a Hub token is kept no longer).
    last_load: StoredValue<Option<LoadRequest>, LocalStorage>,
}

/// A model load as the user asked for it.
#[derive(Clone)]
enum LoadRequest {
    Source(ModelSource),
    /// Picked files, read again for another try (their bytes go to the worker).
    Files(Vec<web_sys::File>),
}

/// `navigator.deviceMemory` (GB), where the browser reports it.
fn device_memory_gb() -> Option<f64> {
    let navigator = web_sys::window()?.navigator();
    js_sys::Reflect::get(&navigator, &"deviceMemory".into()).ok()?.as_f64()
}

impl Actions {
    /// Sends a request (and the file buffers it transfers) to the worker.
    pub fn send(&self, message: &ToWorker, bytes: Vec<Uint8Array>) {
        self.client.with_value(|c| c.send(message, bytes));
    }

    pub fn load_model(&self, source: ModelSource) {
        self.last_load.set_value(Some(LoadRequest::Source(source.clone())));
        self.send_load(source, Vec::new(), None, self.workers.get_value());
    }

    /// Loads picked or dropped model files: weight files, with their manifest or not.
    pub fn load_model_files(&self, files: Vec<web_sys::File>) {
        self.last_load.set_value(Some(LoadRequest::Files(files.clone())));
        self.send_files(files, None, self.workers.get_value());
    }

    /// Loads the last model again with only its first `members`, or in
    /// `workers` workers: the offer after it would not fit in memory.
    pub fn load_less(&self, members: Option<usize>, workers: Option<usize>) {
        let workers = workers.or(self.workers.get_value());
        match self.last_load.get_value() {
            Some(LoadRequest::Source(source)) => self.send_load(source, Vec::new(), members, workers),
            Some(LoadRequest::Files(files)) => self.send_files(files, members, workers),
            None => {}
        }
    }

    /// The load is over: what it was asked of is not kept.
    pub fn forget_last_load(&self) {
        self.last_load.set_value(None);
    }

    fn send_files(&self, files: Vec<web_sys::File>, members: Option<usize>, workers: Option<usize>) {
        let actions = *self;
        leptos::task::spawn_local(async move {
            let mut names = Vec::new();
            let mut bytes = Vec::new();
            for file in &files {
                // Straight into JavaScript memory: a model file never passes
                // through the page's own wasm memory.
                match wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await {
                    Ok(buffer) => {
                        names.push(file.name());
                        bytes.push(Uint8Array::new(&buffer));
                    }
                    Err(_) => {
                        actions
                            .state
                            .error
                            .set(Some(format!("{}: the file could not be read", file.name())));
                        return;
                    }
                }
            }
            if !names.is_empty() {
                actions.send_load(ModelSource::LocalFiles(names), bytes, members, workers);
            }
        });
    }

    fn send_load(&self, source: ModelSource, files: Vec<Uint8Array>, members: Option<usize>, workers: Option<usize>) {
        self.state.error.set(None);
        let allowed = match &source {
            ModelSource::ManifestUrl(url) => Allowed {
                model_origin: foreign_origin(url),
                hub_origin: None,
            },
            ModelSource::Hub { endpoint, .. } => Allowed {
                model_origin: None,
                hub_origin: foreign_origin(endpoint),
            },
            ModelSource::Demo | ModelSource::LocalFiles(_) => Allowed::default(),
        };
        self.client.with_value(|c| c.allow(allowed));
        let message = ToWorker::LoadModel {
            source,
            backend: self.backend.get_value(),
            workers,
            members,
            memory_gb: device_memory_gb(),
        };
        self.client.with_value(|c| c.send(&message, files));
    }

    pub fn cancel_load(&self) {
        self.client.with_value(|c| c.send(&ToWorker::CancelLoad, Vec::new()));
    }

    /// Takes a file the user opened. A DICOM goes to the worker first, whose
    /// reply (preview and tags) makes it the current image; other images are
    /// current at once.
    pub fn open_image(&self, name: String, bytes: Vec<u8>) {
        self.open_frame(name, bytes, 0);
    }

    /// Shows and analyses another frame (from 0) of the multi-frame DICOM in view.
    pub fn choose_frame(&self, frame: u32) {
        if let Some(image) = self.state.image.get_untracked()
            && image.frame != frame
        {
            self.open_frame(image.name, image.bytes, frame);
        }
    }

    fn open_frame(&self, name: String, bytes: Vec<u8>, frame: u32) {
        let serial = self.state.last_serial.get_untracked() + 1;
        self.state.last_serial.set(serial);
        self.state.error.set(None);
        let file = ImageFile {
            name: name.clone(),
            bytes,
            serial,
            grey_preview: None,
            frame,
        };
        // The worker decodes what browsers cannot draw (DICOM) and what has
        // values the viewer reads at full depth (grey PNG and JPEG).
        if chexlens_images::input::has_grey_levels(&file.bytes) {
            let bytes = Uint8Array::from(file.bytes.as_slice());
            self.state.inspecting.set(Some(file));
            let message = ToWorker::Inspect {
                serial,
                file_name: name,
                frame,
            };
            self.client.with_value(|c| c.send(&message, vec![bytes]));
        } else {
            self.state.inspecting.set(None);
            self.state.dicom.set(None);
            self.state.metadata.set(self.state.metadata_without_file_values());
            self.state.from_file.set(FromFile::default());
            self.state.image.set(Some(file));
        }
    }

    /// Analyses the current image with the current metadata, if a model is ready.
    pub fn analyse(&self) {
        let Some(image) = self.state.image.get_untracked() else {
            return;
        };
        if !matches!(self.state.model.get_untracked(), ModelStatus::Ready(_)) {
            return;
        }
        let id = self.state.pending.get_untracked() + 1;
        self.state.pending.set(id);
        self.state.heatmaps.set(Vec::new());
        self.state.heatmaps_requested.set(Vec::new());
        self.state.sensitivity.set(Sensitivity::NotAsked);
        self.state.member_heatmaps.set(Vec::new());
        self.state.faithfulness.set(Vec::new());
        self.state.analysis.set(AnalysisStatus::Running);
        let message = ToWorker::Analyse {
            id,
            serial: image.serial,
            file_name: image.name.clone(),
            metadata: self.state.metadata.get_untracked(),
            file_tags_first: false,
        };
        let bytes = Uint8Array::from(image.bytes.as_slice());
        self.client.with_value(|c| c.send(&message, vec![bytes]));
    }

    /// Asks for each member's map of one label of the current analysis.
    pub fn request_member_heatmaps(&self, label: usize) {
        let asked = self
            .state
            .member_heatmaps
            .with_untracked(|m| m.iter().any(|(l, _)| *l == label));
        if asked || !matches!(self.state.analysis.get_untracked(), AnalysisStatus::Done { .. }) {
            return;
        }
        let message = ToWorker::MemberHeatMaps {
            id: self.state.pending.get_untracked(),
            label,
            settings: self.state.cam_settings.get_untracked(),
        };
        self.client.with_value(|c| c.send(&message, Vec::new()));
    }

    /// Asks how the current analysis' probabilities move with its metadata.
    pub fn request_sensitivity(&self) {
        let AnalysisStatus::Done { metadata, .. } = self.state.analysis.get_untracked() else {
            return;
        };
        self.state.sensitivity.set(Sensitivity::Running);
        let message = ToWorker::Sensitivity {
            id: self.state.pending.get_untracked(),
            metadata,
        };
        self.client.with_value(|c| c.send(&message, Vec::new()));
    }

    /// Selects a label: its heat map (asked for if need be) lies over the image.
    pub fn select_label(&self, label: usize) {
        self.state.selected_label.set(Some(label));
        self.request_heatmaps(vec![label]);
    }

    /// Asks for the heat maps of these labels (by index) that were not asked for yet.
    pub fn request_heatmaps(&self, labels: Vec<usize>) {
        let asked = self.state.heatmaps_requested.get_untracked();
        let new: Vec<usize> = labels.into_iter().filter(|l| !asked.contains(l)).collect();
        if new.is_empty() || !matches!(self.state.analysis.get_untracked(), AnalysisStatus::Done { .. }) {
            return;
        }
        self.state.heatmaps_requested.update(|r| r.extend(new.iter().copied()));
        // One request a label: the maps arrive one by one, and the page
        // counts them (the finer layer takes a while on the CPU).
        let (id, settings) = (
            self.state.pending.get_untracked(),
            self.state.cam_settings.get_untracked(),
        );
        for label in new {
            let message = ToWorker::HeatMaps {
                id,
                labels: vec![label],
                settings,
            };
            self.client.with_value(|c| c.send(&message, Vec::new()));
        }
    }

    /// Another method or layer: the maps shown so far are asked for again
    /// from the kept pass (the forward pass does not run again).
    pub fn set_cam_settings(&self, settings: CamSettings) {
        if self.state.cam_settings.get_untracked() == settings {
            return;
        }
        self.state.cam_settings.set(settings);
        let asked = self.state.heatmaps_requested.get_untracked();
        self.state.heatmaps.set(Vec::new());
        self.state.heatmaps_requested.set(Vec::new());
        self.state.member_heatmaps.set(Vec::new());
        self.state.faithfulness.set(Vec::new());
        self.request_heatmaps(asked);
    }

    /// Asks how faithful the ensemble's map of `label` is (nine more passes).
    pub fn request_faithfulness(&self, label: usize) {
        let AnalysisStatus::Done { metadata, .. } = self.state.analysis.get_untracked() else {
            return;
        };
        let asked = self.state.faithfulness.with_untracked(|f| {
            f.iter()
                .any(|(l, s)| *l == label && !matches!(s, FaithfulnessStatus::Failed(_)))
        });
        if asked {
            return;
        }
        self.state.faithfulness.update(|f| {
            f.retain(|(l, _)| *l != label);
            f.push((label, FaithfulnessStatus::Running { done: 0, total: 9 }));
        });
        let message = ToWorker::Faithfulness {
            id: self.state.pending.get_untracked(),
            label,
            settings: self.state.cam_settings.get_untracked(),
            metadata,
        };
        self.client.with_value(|c| c.send(&message, Vec::new()));
    }
}

impl Actions {
    /// Starts the worker, with the page's options for what it loads.
    fn start(state: AppState, options: &PageOptions) -> Self {
        Self {
            client: StoredValue::new_local(WorkerClient::start(state, options.backend, options.threads)),
            state,
            backend: StoredValue::new(options.backend),
            workers: StoredValue::new(options.workers),
            last_load: StoredValue::new_local(None),
        }
    }
}

#[component]
pub fn App() -> impl IntoView {
    let options = PageOptions::from_location();
    let state = AppState::new();
    provide_context(state);
    let actions = Actions::start(state, &options);
    provide_context(actions);
    if let Some(url) = options.model_url.clone() {
        actions.load_model(ModelSource::ManifestUrl(url));
    }
    forget_ended_loads(state, actions);
    analyse_on_change(state, actions);
    run_batch(state, actions, options.prefetch);
    map_every_finding(state, actions);

    view! {
        <Banner/>
        <ErrorBanner/>
        // The X-ray in the middle, as large as the screen allows; the
        // findings beside it; model and patient in panels that fold away.
        <main class="layout" class:no-model=move || !matches!(state.model.get(), ModelStatus::Ready(_))>
            <section class="column side" aria-label="Model and patient">
                <ModelPanel/>
                <OfflineModels/>
                <MetadataForm/>
            </section>
            <section class="column view" aria-label="X-ray">
                <ImagePanel/>
                <HeatMaps/>
            </section>
            <section class="column find" aria-label="Findings">
                <Results/>
            </section>
            <Batch/>
        </main>
    }
}

/// A load that ended, other than in an offer to load less, is forgotten.
fn forget_ended_loads(state: AppState, actions: Actions) {
    Effect::new(move |_| {
        if matches!(
            state.model.get(),
            ModelStatus::Ready(_) | ModelStatus::Error(_) | ModelStatus::None
        ) {
            actions.forget_last_load();
        }
    });
}

/// A new model, image or metadata means a new analysis.
fn analyse_on_change(state: AppState, actions: Actions) {
    Effect::new(move |_| {
        state.image.track();
        state.metadata.track();
        if matches!(state.model.get(), ModelStatus::Ready(_)) {
            actions.analyse();
        }
    });
}

/// The batch's next request goes to the worker when the last is answered;
/// a batch the last visit left is picked up.
fn run_batch(state: AppState, actions: Actions, prefetch: bool) {
    state.batch.set_prefetch(prefetch);
    state.batch.restore();
    Effect::new(move |_| {
        state.batch.track();
        state.model.track();
        state.batch.pump(state, actions);
    });
}

/// Every finding gets its heat map, also when the threshold admits new ones.
fn map_every_finding(state: AppState, actions: Actions) {
    Effect::new(move |_| {
        let (AnalysisStatus::Done { probabilities, .. }, Some(info)) = (state.analysis.get(), state.model_info())
        else {
            return;
        };
        // A withheld result's maps wait until its findings are shown.
        if state.withheld() {
            return;
        }
        let thresholds = info.thresholds.with_default(state.threshold.get());
        let findings = thresholds.finding_indices(&info.labels, &probabilities);
        actions.request_heatmaps(findings);
    });
}

#[component]
fn ErrorBanner() -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <Show when=move || state.error.get().is_some()>
            <div class="error" role="alert" data-testid="error">
                <span>{move || state.error.get().unwrap_or_default()}</span>
                <button class="dismiss" aria-label="Dismiss message" on:click=move |_| state.error.set(None)>"×"</button>
            </div>
        </Show>
    }
}

/// The origin of a model address when it is not the page's own.
fn foreign_origin(url: &str) -> Option<String> {
    let page = web_sys::window()?.location().href().ok()?;
    let target = web_sys::Url::new_with_base(url, &page).ok()?;
    let own = web_sys::Url::new(&page).ok()?;
    (target.origin() != own.origin()).then(|| target.origin())
}

/// Waits `ms` milliseconds, letting the browser paint and handle events.
pub async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// A file's bytes as the browser reads them, for the worker: not copied
/// into the page's own memory.
pub async fn read_bytes(file: &web_sys::File) -> Result<Uint8Array, String> {
    let buffer = wasm_bindgen_futures::JsFuture::from(file.array_buffer())
        .await
        .map_err(|_| "the file could not be read (was it moved or deleted?)".to_string())?;
    Ok(Uint8Array::new(&buffer))
}

/// A file's bytes in the page's memory; errors name the file.
pub async fn read_file(file: &web_sys::File) -> Result<Vec<u8>, String> {
    match read_bytes(file).await {
        Ok(bytes) => Ok(bytes.to_vec()),
        Err(e) => Err(format!("{}: {e}", file.name())),
    }
}
