//! Many images at once: a queue the worker works through one image at a
//! time (progress, per-image status, cancel), a sortable table of every
//! image's probabilities, an optional CheXpert-format labels CSV scored in
//! the page by the model crate's evaluation code, and CSV / JSON exports
//! in the CLI's schemas with the model's provenance. Nothing is uploaded.

use super::{Actions, AppState, ModelStatus, download, read_file};
use crate::protocol::{ModelInfo, ToWorker};
use chexlens_model::Metadata;
use chexlens_model::evaluation::{self, Evaluation, UncertainPolicy, plots, predictions_header, predictions_line};
use chexlens_model::labelled::{LabelledImage, LabelledSet};
use js_sys::Uint8Array;
use leptos::prelude::*;
use serde_json::{Value, json};
use web_sys::HtmlInputElement;

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
    pub metadata: Metadata,
    pub status: ItemStatus,
}

/// How the table is sorted: by image path, or by a label's probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SortBy {
    Image,
    Label(usize),
}

/// The batch's signals (part of [`AppState`]).
#[derive(Clone, Copy)]
pub struct BatchState {
    pub items: RwSignal<Vec<BatchItem>>,
    /// Each item's bytes, by index: kept out of the signal so that status
    /// updates do not copy images.
    bytes: StoredValue<Vec<Vec<u8>>, LocalStorage>,
    /// The item the worker is analysing and its analysis id.
    running: RwSignal<Option<(usize, u32)>>,
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

    /// The worker finished analysis `id`: record it (the page's effect then
    /// sends the next image).
    pub fn finished(&self, id: u32, result: Result<Vec<f32>, String>) {
        let Some((index, running_id)) = self.running.get_untracked() else {
            return;
        };
        if running_id != id {
            return;
        }
        self.items.update(|items| {
            if let Some(item) = items.get_mut(index) {
                item.status = match result {
                    Ok(p) => ItemStatus::Done(p),
                    Err(message) => ItemStatus::Failed(message),
                };
            }
        });
        self.running.set(None);
    }

    /// The next queued image as a request to the worker, marked as under
    /// way; `None` while one is under way, nothing is queued or no model is ready.
    pub fn next_request(&self, state: AppState) -> Option<(ToWorker, Uint8Array)> {
        if self.running.get_untracked().is_some() || !matches!(state.model.get_untracked(), ModelStatus::Ready(_)) {
            return None;
        }
        let items = self.items.get_untracked();
        let index = items.iter().position(|i| i.status == ItemStatus::Queued)?;
        let id = self.next_id.get_value();
        self.next_id.set_value(id.wrapping_add(1).max(FIRST_ID));
        self.running.set(Some((index, id)));
        self.items.update(|items| items[index].status = ItemStatus::Running);
        let item = &items[index];
        let message = ToWorker::Analyse {
            id,
            // Serial 0 is never an inspected image's: the worker decodes the bytes.
            serial: 0,
            file_name: item.path.clone(),
            metadata: item.metadata,
        };
        let bytes = self.bytes.with_value(|b| Uint8Array::from(b[index].as_slice()));
        Some((message, bytes))
    }

    /// Queues files, with the labels CSV's metadata where it has a row.
    fn add(&self, state: AppState, files: Vec<(String, Vec<u8>)>) {
        let labels = self.labels.get_untracked();
        let defaults = state.metadata.get_untracked();
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
                    status: ItemStatus::Queued,
                })
            });
            self.bytes.update_value(|b| b.push(bytes));
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

/// The labelled set scored on the images analysed so far.
fn evaluate(batch: BatchState, info: &ModelInfo, thresholds: &chexlens_model::Thresholds) -> Option<Evaluation> {
    let (_, set) = batch.labels.get()?;
    let columns = evaluation::columns_of(&set.labels, &info.labels);
    let rows: Vec<(Vec<f32>, Vec<chexlens_model::labelled::Label>)> = batch
        .items
        .get()
        .iter()
        .filter_map(|item| {
            let ItemStatus::Done(p) = &item.status else { return None };
            let row = row_for(&set, &item.path)?;
            Some((columns.iter().map(|&c| p[c]).collect(), row.labels.clone()))
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    Some(evaluation::evaluate_rows(
        &set.labels,
        &rows,
        batch.policy.get(),
        thresholds,
    ))
}

/// Where the exports' numbers came from.
fn provenance(info: &ModelInfo, thresholds: &chexlens_model::Thresholds) -> Value {
    json!({
        "chexlens": env!("CARGO_PKG_VERSION"),
        "model": info.name,
        "demo": info.demo,
        "members": info.members,
        "member_sha256": info.member_sha256,
        "backend": info.backend.name(),
        "thresholds": thresholds,
        "input": info.input,
    })
}

fn export_csv(batch: BatchState, info: &ModelInfo) {
    let mut text = predictions_header(&info.labels);
    for item in batch.items.get_untracked() {
        if let ItemStatus::Done(p) = &item.status {
            text.push('\n');
            text.push_str(&predictions_line(&item.path, p));
        }
    }
    text.push('\n');
    download::offer_text(&text, "text/csv", "chexlens-predictions.csv");
}

fn export_json(batch: BatchState, info: &ModelInfo, thresholds: &chexlens_model::Thresholds) {
    let items = batch.items.get_untracked();
    let results: Vec<Value> = items
        .iter()
        .filter_map(|item| {
            let ItemStatus::Done(p) = &item.status else { return None };
            let probabilities: serde_json::Map<String, Value> =
                info.labels.iter().zip(p).map(|(l, &v)| (l.clone(), json!(v))).collect();
            let mut findings: Vec<(usize, f32)> = thresholds
                .finding_indices(&info.labels, p)
                .into_iter()
                .map(|i| (i, p[i]))
                .collect();
            findings.sort_by(|a, b| b.1.total_cmp(&a.1));
            Some(json!({
                "image": item.path,
                "metadata": item.metadata,
                "probabilities": probabilities,
                "findings": findings.iter().map(|&(i, v)| json!({"label": info.labels[i], "probability": v})).collect::<Vec<_>>(),
                "members": info.members,
            }))
        })
        .collect();
    let failed: Vec<Value> = items
        .iter()
        .filter_map(|i| match &i.status {
            ItemStatus::Failed(e) => Some(json!({"image": i.path, "error": e})),
            _ => None,
        })
        .collect();
    let export = json!({"provenance": provenance(info, thresholds), "results": results, "failed": failed});
    let text = serde_json::to_string_pretty(&export).unwrap_or_default();
    download::offer_text(&text, "application/json", "chexlens-results.json");
}

/// Reads picked files (a folder's keep their relative paths) and queues them.
fn take_files(state: AppState, input: &HtmlInputElement) {
    let Some(list) = input.files() else { return };
    let files: Vec<web_sys::File> = (0..list.length()).filter_map(|i| list.get(i)).collect();
    input.set_value("");
    leptos::task::spawn_local(async move {
        let mut read = Vec::new();
        for file in files {
            // Set for files picked as a folder (not in web-sys's File).
            let relative = js_sys::Reflect::get(&file, &"webkitRelativePath".into())
                .ok()
                .and_then(|v| v.as_string())
                .filter(|p| !p.is_empty());
            let path = relative.unwrap_or_else(|| file.name());
            if file.size() > chexlens_model::input::MAX_FILE_BYTES as f64 {
                let error = chexlens_model::ImageError::FileTooLarge(file.size() as u64);
                state.error.set(Some(format!("{path}: {error}")));
                continue;
            }
            match read_file(&file).await {
                Ok(bytes) => read.push((path, bytes)),
                Err(e) => state.error.set(Some(e)),
            }
        }
        state.batch.add(state, read);
    });
}

fn take_labels(state: AppState, input: &HtmlInputElement) {
    let Some(file) = input.files().and_then(|f| f.get(0)) else {
        return;
    };
    input.set_value("");
    leptos::task::spawn_local(async move {
        let labels = state
            .model_info_untracked()
            .map_or_else(chexlens_model::labels::default_labels, |i| i.labels);
        let parsed = read_file(&file)
            .await
            .and_then(|bytes| LabelledSet::parse(&bytes, &labels).map_err(|e| format!("{}: {e}", file.name())));
        match parsed {
            Ok(set) => state.batch.set_labels(state, file.name(), set),
            Err(e) => state.error.set(Some(e)),
        }
    });
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
    let running = move || batch.running.get().is_some();
    let info = move || state.model_info();
    // The folder picker's attribute is not in Leptos's list of input attributes.
    let folder_input = NodeRef::<leptos::html::Input>::new();
    Effect::new(move |_| {
        if let Some(input) = folder_input.get() {
            let _ = input.set_attribute("webkitdirectory", "");
        }
    });

    view! {
        <section class="panel batch" aria-labelledby="batch-heading">
            <h2 id="batch-heading">"Many images"</h2>
            <div class="batch-inputs">
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
                        on:click=move |_| if let Some(i) = info() { export_csv(batch, &i) }>"Export CSV"</button>
                    <button type="button" data-testid="export-json" prop:disabled=move || counts.get().0 == 0
                        on:click=move |_| if let (Some(i), Some(t)) = (info(), thresholds.get()) { export_json(batch, &i, &t) }>"Export JSON"</button>
                </div>
                <BatchTable actions=actions thresholds=thresholds/>
            </Show>
            <LabelledScores thresholds=thresholds/>
        </section>
    }
}

/// Every image's probabilities; findings marked with a dot as well as colour.
#[component]
fn BatchTable(actions: Actions, thresholds: Memo<Option<chexlens_model::Thresholds>>) -> impl IntoView {
    let state = expect_context::<AppState>();
    let batch = state.batch;
    let labels = move || state.model_info().map(|i| i.labels).unwrap_or_default();
    let rows = Memo::new(move |_| {
        let mut rows: Vec<(usize, BatchItem)> = batch.items.get().into_iter().enumerate().collect();
        let (by, descending) = batch.sort.get();
        let value = |item: &BatchItem, label: usize| match &item.status {
            ItemStatus::Done(p) => p.get(label).copied().unwrap_or(-1.0),
            _ => -1.0,
        };
        match by {
            SortBy::Image => rows.sort_by(|a, b| a.1.path.cmp(&b.1.path)),
            SortBy::Label(l) => rows.sort_by(|a, b| value(&a.1, l).total_cmp(&value(&b.1, l))),
        }
        if descending {
            rows.reverse();
        }
        rows
    });
    let sort_by = move |by: SortBy| {
        batch.sort.update(|(current, descending)| {
            *descending = if *current == by {
                !*descending
            } else {
                matches!(by, SortBy::Label(_))
            };
            *current = by;
        })
    };
    let order = move |by: SortBy| match batch.sort.get() {
        (current, true) if current == by => "descending",
        (current, false) if current == by => "ascending",
        _ => "none",
    };
    view! {
        <div class="batch-table-wrap">
            <table class="batch-table" data-testid="batch-table">
                <caption>"Probabilities per image (● at or above the threshold). Choose a column to sort; choose an image to see it with its heat maps."</caption>
                <thead>
                    <tr>
                        <th scope="col" aria-sort=move || order(SortBy::Image)>
                            <button type="button" class="sort" on:click=move |_| sort_by(SortBy::Image)>"Image"</button>
                        </th>
                        <th scope="col">"Status"</th>
                        {move || labels().into_iter().enumerate().map(|(i, label)| view! {
                            <th scope="col" aria-sort=move || order(SortBy::Label(i))>
                                <button type="button" class="sort" on:click=move |_| sort_by(SortBy::Label(i))>{label}</button>
                            </th>
                        }).collect_view()}
                    </tr>
                </thead>
                <tbody>
                    {move || {
                        let labels = labels();
                        let thresholds = thresholds.get().unwrap_or_default();
                        rows.get().into_iter().map(|(index, item)| {
                            let status = match &item.status {
                                ItemStatus::Queued => "queued".to_string(),
                                ItemStatus::Running => "analysing…".to_string(),
                                ItemStatus::Done(_) => "done".to_string(),
                                ItemStatus::Failed(e) => format!("failed: {e}"),
                            };
                            let state_name = match &item.status {
                                ItemStatus::Queued => "queued",
                                ItemStatus::Running => "running",
                                ItemStatus::Done(_) => "done",
                                ItemStatus::Failed(_) => "failed",
                            };
                            let cells = match &item.status {
                                ItemStatus::Done(p) => labels.iter().zip(p).map(|(label, &v)| {
                                    let finding = thresholds.is_finding(label, v);
                                    view! {
                                        <td class:finding=finding data-label=label.clone() data-value=v.to_string()>
                                            {format!("{v:.3}{}", if finding { " ●" } else { "" })}
                                        </td>
                                    }
                                }).collect_view().into_any(),
                                _ => labels.iter().map(|_| view! { <td>"–"</td> }).collect_view().into_any(),
                            };
                            let path = item.path.clone();
                            view! {
                                <tr data-testid="batch-row" data-path=item.path.clone() data-state=state_name>
                                    <th scope="row">
                                        <button type="button" class="link" title="Show this image with its heat maps"
                                            on:click=move |_| {
                                                let bytes = batch.bytes.with_value(|b| b.get(index).cloned());
                                                if let Some(bytes) = bytes { actions.open_image(path.clone(), bytes); }
                                            }>{item.path.clone()}</button>
                                    </th>
                                    <td>{status}</td>
                                    {cells}
                                </tr>
                            }
                        }).collect_view()
                    }}
                </tbody>
            </table>
        </div>
    }
}

/// AUROC per label on the labelled images analysed so far, and their ROC curves.
#[component]
fn LabelledScores(thresholds: Memo<Option<chexlens_model::Thresholds>>) -> impl IntoView {
    let state = expect_context::<AppState>();
    let batch = state.batch;
    let scores = Memo::new(move |_| {
        let (info, thresholds) = (state.model_info()?, thresholds.get()?);
        evaluate(batch, &info, &thresholds)
    });
    let fmt = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.3}"));
    view! {
        <Show when=move || batch.labels.get().is_some()>
            <div class="labelled" data-testid="labelled-scores">
                <h3>{move || format!("Scored against {}", batch.labels.get().map(|l| l.0).unwrap_or_default())}</h3>
                <label>
                    "Uncertain (-1) labels "
                    <select data-testid="uncertain" on:change=move |ev| {
                        if let Ok(p) = event_target_value(&ev).parse::<UncertainPolicy>() { batch.policy.set(p); }
                    }>
                        <option value="ignore">"left out (U-Ignore)"</option>
                        <option value="zeros">"as negative (U-Zeros)"</option>
                        <option value="ones">"as positive (U-Ones)"</option>
                    </select>
                </label>
                {move || match scores.get() {
                    None => view! { <p>"No labelled image has been analysed yet."</p> }.into_any(),
                    Some(evaluation) => view! {
                        <p data-testid="mean-auroc" data-value=evaluation.mean_auroc.map(|v| v.to_string()).unwrap_or_default()>
                            {format!("Mean AUROC over the labels with both classes: {}", fmt(evaluation.mean_auroc))}
                        </p>
                        <table class="scores">
                            <caption>"95% confidence intervals by DeLong's method; the same code as chexlens evaluate."</caption>
                            <thead><tr>
                                <th scope="col">"Label"</th><th scope="col">"Positive"</th><th scope="col">"Negative"</th>
                                <th scope="col">"AUROC (95% CI)"</th><th scope="col">"AUPRC"</th>
                                <th scope="col">"Sensitivity"</th><th scope="col">"Specificity"</th>
                            </tr></thead>
                            <tbody>
                                {evaluation.labels.iter().map(|r| {
                                    let auc = r.auroc.map_or("–".to_string(), |a| format!("{:.3} ({:.3}–{:.3})", a.value, a.ci95.0, a.ci95.1));
                                    view! {
                                        <tr data-testid="auroc" data-label=r.label.clone()
                                            data-value=r.auroc.map(|a| a.value.to_string()).unwrap_or_default()>
                                            <th scope="row">{r.label.clone()}</th>
                                            <td>{r.positives}</td><td>{r.negatives}</td><td>{auc}</td>
                                            <td>{fmt(r.auprc)}</td>
                                            <td>{fmt(r.operating_point.sensitivity)}</td>
                                            <td>{fmt(r.operating_point.specificity)}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                        <details>
                            <summary>"ROC curves"</summary>
                            <div class="roc-plots">
                                {evaluation.labels.iter().filter(|r| r.auroc.is_some()).map(|r| view! {
                                    <figure inner_html=plots::roc_svg(r) aria-label=format!("ROC curve for {}", r.label)></figure>
                                }).collect_view()}
                            </div>
                        </details>
                    }.into_any(),
                }}
            </div>
        </Show>
    }
}
