//! Many images at once: a queue the worker works through one image at a
//! time (progress, per-image status, cancel), a sortable table of every
//! image's probabilities, an optional CheXpert-format labels CSV scored in
//! the page by the model crate's evaluation code, and CSV / JSON exports
//! in the CLI's schemas with the model's provenance. Nothing is uploaded.

mod dropped;
mod export;
mod scores;
mod table;

use super::{Actions, AppState, ModelStatus, read_file};
use crate::protocol::ToWorker;
use chexlens_formats::Metadata;
use chexlens_formats::cam::CamMap;
use chexlens_formats::evaluation::UncertainPolicy;
use chexlens_formats::labelled::{LabelledImage, LabelledSet};
use js_sys::Uint8Array;
use leptos::prelude::*;
use scores::LabelledScores;
use table::BatchTable;
use web_sys::{File, HtmlInputElement};

use crate::protocol::FIRST_BATCH_ID as FIRST_ID;

#[derive(Debug, Clone, PartialEq)]
pub enum ItemStatus {
    Queued,
    Running,
    Done(Vec<f32>),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct BatchItem {
    /// The file's path within a picked folder, else its name.
    pub path: String,
    /// What it is analysed with: its labels-CSV row's, else the form's (a
    /// DICOM's own tags then go first); once done, what the worker used.
    pub metadata: Metadata,
    /// Whether a labels-CSV row gave the metadata.
    pub from_labels: bool,
    pub status: ItemStatus,
}

/// How the table is sorted: by image path, or by a label's probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SortBy {
    Image,
    Label(usize),
}

/// Where the image under way is: its analysis, then its heat maps (every
/// label's, so that overlays can be exported at any threshold later).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Analysing,
    MapsWanted,
    Mapping,
}

/// The item the worker is working on, and the analysis id it goes by.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Running {
    index: usize,
    id: u32,
    phase: Phase,
}

/// The batch's signals (part of [`AppState`]).
#[derive(Clone, Copy)]
pub struct BatchState {
    pub items: RwSignal<Vec<BatchItem>>,
    /// Each item's bytes, by index: kept out of the signal so that status
    /// updates do not copy images.
    bytes: StoredValue<Vec<Vec<u8>>, LocalStorage>,
    /// Each item's heat map per label, by index, once computed.
    maps: StoredValue<Vec<Option<Vec<CamMap>>>, LocalStorage>,
    running: RwSignal<Option<Running>>,
    next_id: StoredValue<u32>,
    pub labels: RwSignal<Option<(String, LabelledSet)>>,
    pub policy: RwSignal<UncertainPolicy>,
    pub sort: RwSignal<(SortBy, bool)>,
}

impl BatchState {
    pub fn new() -> Self {
        Self {
            items: RwSignal::new(Vec::new()),
            bytes: StoredValue::new_local(Vec::new()),
            maps: StoredValue::new_local(Vec::new()),
            running: RwSignal::new(None),
            next_id: StoredValue::new(FIRST_ID),
            labels: RwSignal::new(None),
            policy: RwSignal::new(UncertainPolicy::Ignore),
            sort: RwSignal::new((SortBy::Image, false)),
        }
    }

    /// Whether a reply with this id is the batch's.
    pub fn owns(&self, id: u32) -> bool {
        id >= FIRST_ID
    }

    /// Makes the calling effect run again when the queue moves.
    pub fn track(&self) {
        self.items.track();
        self.running.track();
    }

    /// Whether an image is under way.
    pub fn is_running(&self) -> bool {
        self.running.get().is_some()
    }

    /// The image under way, if it is analysis `id` waiting in `phase`
    /// (a late reply for another is dropped).
    fn awaiting(&self, id: u32, phase: Phase) -> Option<Running> {
        self.running.get_untracked().filter(|r| r.id == id && r.phase == phase)
    }

    /// The worker finished analysis `id` (probabilities and the metadata
    /// it used): record it; its heat maps are asked next.
    pub fn finished(&self, id: u32, result: Result<(Vec<f32>, Metadata), String>) {
        let Some(running) = self.awaiting(id, Phase::Analysing) else {
            return;
        };
        let failed = result.is_err();
        self.items.update(|items| {
            if let Some(item) = items.get_mut(running.index) {
                item.status = match result {
                    Ok((p, metadata)) => {
                        item.metadata = metadata;
                        ItemStatus::Done(p)
                    }
                    Err(message) => ItemStatus::Failed(message),
                };
            }
        });
        self.running.set((!failed).then_some(Running {
            phase: Phase::MapsWanted,
            ..running
        }));
    }

    /// The worker sent (or could not make) analysis `id`'s heat maps; the
    /// probabilities stand either way, and the next image can go.
    pub fn maps_finished(&self, id: u32, maps: Option<Vec<(usize, CamMap)>>) {
        let Some(running) = self.awaiting(id, Phase::Mapping) else {
            return;
        };
        if let Some(mut maps) = maps {
            maps.sort_by_key(|(label, _)| *label);
            let by_label = maps.into_iter().map(|(_, map)| map).collect();
            self.maps.update_value(|m| {
                if let Some(slot) = m.get_mut(running.index) {
                    *slot = Some(by_label);
                }
            });
        }
        self.running.set(None);
    }

    /// The next request for the worker: the heat maps of the image just
    /// analysed, else the next queued image (marked as under way); `None`
    /// while the worker is busy with the batch, nothing is queued or no
    /// model is ready.
    pub fn next_request(&self, state: AppState) -> Option<(ToWorker, Vec<Uint8Array>)> {
        let ModelStatus::Ready(info) = state.model.get_untracked() else {
            return None;
        };
        if let Some(running) = self.running.get_untracked() {
            if running.phase != Phase::MapsWanted {
                return None;
            }
            self.running.set(Some(Running {
                phase: Phase::Mapping,
                ..running
            }));
            let labels = (0..info.labels.len()).collect();
            return Some((ToWorker::HeatMaps { id: running.id, labels }, Vec::new()));
        }
        let items = self.items.get_untracked();
        let index = items.iter().position(|i| i.status == ItemStatus::Queued)?;
        let id = self.next_id.get_value();
        self.next_id.set_value(id.wrapping_add(1).max(FIRST_ID));
        self.running.set(Some(Running {
            index,
            id,
            phase: Phase::Analysing,
        }));
        self.items.update(|items| items[index].status = ItemStatus::Running);
        let item = &items[index];
        let message = ToWorker::Analyse {
            id,
            // Serial 0 is never an inspected image's: the worker decodes the bytes.
            serial: 0,
            file_name: item.path.clone(),
            metadata: item.metadata,
            file_tags_first: !item.from_labels,
        };
        let bytes = self.bytes.with_value(|b| Uint8Array::from(b[index].as_slice()));
        Some((message, vec![bytes]))
    }

    /// The worker stopped: the image under way failed with it; the queue
    /// goes on once a model is loaded again.
    pub fn worker_stopped(&self, message: &str) {
        if let Some(running) = self.running.get_untracked() {
            self.items.update(|items| {
                if let Some(item) = items.get_mut(running.index)
                    && item.status == ItemStatus::Running
                {
                    item.status = ItemStatus::Failed(message.to_string());
                }
            });
            self.running.set(None);
        }
    }

    /// An item's file and heat maps (one per label), where both are there.
    fn bytes_and_maps(&self, index: usize) -> Option<(Vec<u8>, Vec<CamMap>)> {
        let maps = self.maps.with_value(|m| m.get(index).cloned().flatten())?;
        let bytes = self.bytes.with_value(|b| b.get(index).cloned())?;
        Some((bytes, maps))
    }

    /// Queues files, with the labels CSV's metadata where it has a row.
    fn add(&self, state: AppState, files: Vec<(String, Vec<u8>)>) {
        let labels = self.labels.get_untracked();
        // The form's own values: an image in view's DICOM tags are not the batch's.
        let defaults = state.metadata_without_file_values();
        let model_defaults = state.model_info_untracked().map(|i| i.metadata_defaults);
        for (path, bytes) in files {
            let row = labels.as_ref().and_then(|(_, set)| row_for(set, &path));
            let metadata = match row {
                Some(row) => csv_metadata(row, model_defaults.unwrap_or(defaults)),
                None => defaults,
            };
            self.items.update(|items| {
                items.push(BatchItem {
                    path,
                    metadata,
                    from_labels: row.is_some(),
                    status: ItemStatus::Queued,
                })
            });
            self.bytes.update_value(|b| b.push(bytes));
            self.maps.update_value(|m| m.push(None));
        }
    }

    /// Stops after the image under way; what is queued stays queued.
    fn cancel(&self) {
        self.items.update(|items| {
            for item in items.iter_mut().filter(|i| i.status == ItemStatus::Queued) {
                item.status = ItemStatus::Failed("cancelled".into());
            }
        });
    }

    fn clear(&self) {
        if self.running.get_untracked().is_none() {
            self.items.set(Vec::new());
            self.bytes.set_value(Vec::new());
            self.maps.set_value(Vec::new());
        }
    }

    /// A new labels CSV gives every image its row's metadata: all run again.
    fn set_labels(&self, state: AppState, name: String, set: LabelledSet) {
        self.labels.set(Some((name, set)));
        let files: Vec<(String, Vec<u8>)> = self
            .items
            .get_untracked()
            .into_iter()
            .zip(self.bytes.get_value())
            .map(|(item, bytes)| (item.path, bytes))
            .collect();
        if self.running.get_untracked().is_none() && !files.is_empty() {
            self.items.set(Vec::new());
            self.bytes.set_value(Vec::new());
            self.maps.set_value(Vec::new());
            self.add(state, files);
        }
    }
}

impl Default for BatchState {
    fn default() -> Self {
        Self::new()
    }
}

/// The CSV row of a file: the same path, or a path ending in its name.
fn row_for<'a>(set: &'a LabelledSet, path: &str) -> Option<&'a LabelledImage> {
    let name = path.rsplit('/').next().unwrap_or(path);
    set.images
        .iter()
        .find(|i| i.path == path)
        .or_else(|| set.images.iter().find(|i| i.path.rsplit('/').next() == Some(name)))
}

/// The CSV's metadata over the model's defaults, as `chexlens evaluate` takes it.
fn csv_metadata(row: &LabelledImage, defaults: Metadata) -> Metadata {
    let m = row.metadata;
    Metadata {
        sex: m.sex.unwrap_or(defaults.sex),
        age: m.age.unwrap_or(defaults.age),
        view: m.view.unwrap_or(defaults.view),
        projection: m.projection.unwrap_or(defaults.projection),
    }
}

/// Reads files, each with its path, and queues them; unreadable or too
/// large files are reported and left out.
async fn queue(state: AppState, files: Vec<(String, File)>) {
    let mut read = Vec::new();
    for (path, file) in files {
        if file.size() > chexlens_formats::input::MAX_FILE_BYTES as f64 {
            let error = chexlens_formats::ImageError::FileTooLarge(file.size() as u64);
            state.error.set(Some(format!("{path}: {error}")));
            continue;
        }
        match read_file(&file).await {
            Ok(bytes) => read.push((path, bytes)),
            Err(e) => state.error.set(Some(e)),
        }
    }
    state.batch.add(state, read);
}

/// Picked files; a folder's keep their paths inside it.
fn take_files(state: AppState, input: &HtmlInputElement) {
    let Some(list) = input.files() else { return };
    let files: Vec<(String, File)> = (0..list.length())
        .filter_map(|i| list.get(i))
        .map(|file| {
            // Set for files picked as a folder (not in web-sys's File).
            let relative = js_sys::Reflect::get(&file, &"webkitRelativePath".into())
                .ok()
                .and_then(|v| v.as_string())
                .filter(|p| !p.is_empty());
            (relative.unwrap_or_else(|| file.name()), file)
        })
        .collect();
    input.set_value("");
    leptos::task::spawn_local(queue(state, files));
}

/// Dropped files and folders: a `.csv` among them is the labels, read
/// first so that its metadata reaches the images queued with it.
fn take_drop(state: AppState, transfer: &web_sys::DataTransfer) {
    let dropped = dropped::take(transfer);
    leptos::task::spawn_local(async move {
        let files = match dropped::walk(dropped).await {
            Ok(files) => files,
            Err(e) => {
                state.error.set(Some(e));
                return;
            }
        };
        let (csvs, images): (Vec<_>, Vec<_>) = files
            .into_iter()
            .partition(|(path, _)| path.to_ascii_lowercase().ends_with(".csv"));
        if let Some((_, csv)) = csvs.into_iter().next() {
            read_labels(state, csv).await;
        }
        queue(state, images).await;
    });
}

async fn read_labels(state: AppState, file: File) {
    let labels = state
        .model_info_untracked()
        .map_or_else(chexlens_formats::labels::default_labels, |i| i.labels);
    let parsed = read_file(&file)
        .await
        .and_then(|bytes| LabelledSet::parse(&bytes, &labels).map_err(|e| format!("{}: {e}", file.name())));
    match parsed {
        Ok(set) => state.batch.set_labels(state, file.name(), set),
        Err(e) => state.error.set(Some(e)),
    }
}

fn take_labels(state: AppState, input: &HtmlInputElement) {
    let Some(file) = input.files().and_then(|f| f.get(0)) else {
        return;
    };
    input.set_value("");
    leptos::task::spawn_local(read_labels(state, file));
}

/// The overlay export's state: whether it runs, and its progress or outcome.
#[derive(Clone, Copy)]
struct OverlayExport {
    running: RwSignal<bool>,
    status: RwSignal<String>,
}

impl OverlayExport {
    fn start(self, state: AppState) {
        let Some(info) = state.model_info_untracked() else {
            return;
        };
        let thresholds = info.thresholds.with_default(state.threshold.get_untracked());
        self.running.set(true);
        self.status.set("Drawing overlays…".into());
        leptos::task::spawn_local(async move {
            let outcome = export::export_overlays(state.batch, &info, &thresholds, self.status).await;
            self.running.set(false);
            match outcome {
                Ok(done) => self.status.set(done),
                Err(e) => {
                    self.status.set(String::new());
                    state
                        .error
                        .set(Some(format!("The overlays could not be exported: {e}")));
                }
            }
        });
    }
}

#[component]
pub fn Batch() -> impl IntoView {
    let state = expect_context::<AppState>();
    let actions = expect_context::<Actions>();
    let batch = state.batch;
    let thresholds = Memo::new(move |_| {
        state
            .model_info()
            .map(|info| info.thresholds.with_default(state.threshold.get()))
    });
    let counts = Memo::new(move |_| {
        let items = batch.items.get();
        let done = items.iter().filter(|i| matches!(i.status, ItemStatus::Done(_))).count();
        let failed = items
            .iter()
            .filter(|i| matches!(i.status, ItemStatus::Failed(_)))
            .count();
        (done, failed, items.len())
    });
    let running = move || batch.is_running();
    let info = move || state.model_info();
    let overlay_export = OverlayExport {
        running: RwSignal::new(false),
        status: RwSignal::new(String::new()),
    };
    // The folder picker's attribute is not in Leptos's list of input attributes.
    let folder_input = NodeRef::<leptos::html::Input>::new();
    let dragging = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(input) = folder_input.get() {
            let _ = input.set_attribute("webkitdirectory", "");
        }
    });

    view! {
        <section class="panel batch" aria-labelledby="batch-heading">
            <h2 id="batch-heading">"Many images"</h2>
            <div class="batch-inputs drop-zone" class:dragging=move || dragging.get() data-testid="batch-drop"
                on:dragover=move |ev: leptos::ev::DragEvent| { ev.prevent_default(); dragging.set(true); }
                on:dragleave=move |_| dragging.set(false)
                on:drop=move |ev: leptos::ev::DragEvent| {
                    ev.prevent_default();
                    dragging.set(false);
                    if let Some(transfer) = ev.data_transfer() { take_drop(state, &transfer); }
                }>
                <label class="file-button">
                    "Analyse images…"
                    <input type="file" multiple data-testid="batch-input" on:change=move |ev| take_files(state, &event_target(&ev))/>
                </label>
                <label class="file-button">
                    "…or a folder"
                    <input type="file" multiple data-testid="batch-folder" node_ref=folder_input on:change=move |ev| take_files(state, &event_target(&ev))/>
                </label>
                <label class="file-button">
                    "Labels CSV…"
                    <input type="file" accept=".csv,text/csv" data-testid="labels-input" on:change=move |ev| take_labels(state, &event_target(&ev))/>
                </label>
                <button type="button" data-testid="batch-cancel" prop:disabled=move || !running() on:click=move |_| batch.cancel()>"Cancel"</button>
                <button type="button" data-testid="batch-clear" prop:disabled=move || running() || counts.get().2 == 0 on:click=move |_| batch.clear()>"Clear"</button>
                <p class="hint">"…or drop images, folders and a labels CSV here."</p>
            </div>
            <Show when=move || { counts.get().2 > 0 }>
                <p class="status" role="status" aria-live="polite" data-testid="batch-status"
                    data-done=move || counts.get().0.to_string() data-failed=move || counts.get().1.to_string()
                    data-total=move || counts.get().2.to_string() data-running=move || running().to_string()>
                    <progress max=move || counts.get().2.to_string() value=move || (counts.get().0 + counts.get().1).to_string()></progress>
                    {move || {
                        let (done, failed, total) = counts.get();
                        let waiting = if info().is_none() { " (load a model to start)" } else { "" };
                        format!(" {done} of {total} analysed, {failed} failed{waiting}")
                    }}
                </p>
                <div class="batch-exports">
                    <button type="button" data-testid="export-csv" prop:disabled=move || counts.get().0 == 0
                        on:click=move |_| if let (Some(i), Some(t)) = (info(), thresholds.get()) { export::export_csv(batch, &i, &t) }>"Export CSV"</button>
                    <button type="button" data-testid="export-json" prop:disabled=move || counts.get().0 == 0
                        on:click=move |_| if let (Some(i), Some(t)) = (info(), thresholds.get()) { export::export_json(batch, &i, &t) }>"Export JSON"</button>
                    <button type="button" data-testid="export-overlays" title="Every finding's heat-map overlay as PNG, in one zip"
                        prop:disabled=move || counts.get().0 == 0 || running() || overlay_export.running.get()
                        on:click=move |_| overlay_export.start(state)>"Export overlays (ZIP)"</button>
                    <span class="hint" role="status" data-testid="overlay-export-status"
                        data-running=move || overlay_export.running.get().to_string()>{move || overlay_export.status.get()}</span>
                </div>
                <BatchTable actions=actions thresholds=thresholds/>
            </Show>
            <LabelledScores thresholds=thresholds/>
        </section>
    }
}
