//! Many images at once: a queue the worker works through one image at a
//! time (progress, per-image status, cancel), a sortable table of every
//! image's probabilities, an optional CheXpert-format labels CSV scored in
//! the page by the model crate's evaluation code, and CSV / JSON / overlay
//! exports in the CLI's schemas with the model's provenance. Nothing is
//! uploaded. Built for folders of thousands of images: files are read when
//! their turn comes, results go to disk as they arrive (a reloaded page
//! picks the batch up again), and exports are written as they are made.

mod dropped;
mod export;
mod journal;
mod labels;
mod queue;
mod scores;
mod state;
mod table;

use super::{Actions, AppState, read_file};
use chexlens_research::labelled::LabelledSet;
use export::{ExportKind, Exports};
use labels::Labelled;
use leptos::prelude::*;
use scores::LabelledScores;
use table::BatchTable;
use web_sys::{File, HtmlInputElement};

pub use state::BatchState;
use state::ItemStatus;

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
    state.batch.add(state, files);
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
        state.batch.add(state, images);
    });
}

async fn read_labels(state: AppState, file: File) {
    let labels = state
        .model_info_untracked()
        .map_or_else(chexlens_chexpert::labels::default_labels, |i| i.labels);
    let parsed = read_file(&file).await.and_then(|bytes| {
        let set = LabelledSet::parse(&bytes, &labels).map_err(|e| format!("{}: {e}", file.name()))?;
        Ok(Labelled::new(
            file.name(),
            String::from_utf8_lossy(&bytes).into_owned(),
            set,
        ))
    });
    match parsed {
        Ok(labelled) => state.batch.set_labels(state, labelled),
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

/// A date as the page shows it, in the reader's own locale and time zone.
fn local_time(ms: f64) -> String {
    String::from(js_sys::Date::new(&ms.into()).to_locale_string("default", &js_sys::Object::new()))
}

/// The batch a closed or reloaded tab left: what was done, and how to go on.
#[component]
fn Resumed() -> impl IntoView {
    let batch = expect_context::<AppState>().batch;
    move || {
        batch.resumed.get().map(|r| {
            let unreadable = if r.unreadable > 0 {
                format!(" {} results could not be read back and will be redone.", r.unreadable)
            } else {
                String::new()
            };
            view! {
                <p class="notice" role="status" data-testid="batch-resumed" data-finished=r.finished.to_string()
                    data-total=r.total.to_string()>
                    {format!(
                        "A batch started {} was kept: {} of its {} images finished with {}. To go on, pick the same images or folder again: those finished are skipped by name and size. Or export what was done, or clear it.{unreadable}",
                        local_time(r.started_ms), r.finished, r.total, r.model,
                    )}
                </p>
            }
        })
    }
}

#[component]
pub fn Batch() -> impl IntoView {
    let state = expect_context::<AppState>();
    let actions = expect_context::<Actions>();
    let batch = state.batch;
    let info = move || batch.model.get().or_else(|| state.model_info());
    let thresholds = Memo::new(move |_| info().map(|info| info.thresholds.with_default(state.threshold.get())));
    // Done, failed, waiting for a file, and in all.
    let counts = Memo::new(move |_| {
        batch.items.with(|items| {
            let (mut done, mut failed, mut waiting) = (0, 0, 0);
            for (index, item) in items.iter().enumerate() {
                match item.status {
                    ItemStatus::Done(_) => done += 1,
                    ItemStatus::Failed(_) => failed += 1,
                    ItemStatus::Queued if !batch.has_file(index) => waiting += 1,
                    _ => {}
                }
            }
            (done, failed, waiting, items.len())
        })
    });
    let running = move || batch.is_running();
    let exports = Exports::new();
    // The folder picker's attribute is not in Leptos's list of input attributes.
    let folder_input = NodeRef::<leptos::html::Input>::new();
    let dragging = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(input) = folder_input.get() {
            let _ = input.set_attribute("webkitdirectory", "");
        }
    });
    let export_disabled = move || counts.get().0 == 0 || exports.running.get();

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
                <button type="button" data-testid="batch-clear" title="Forget this batch and its results kept in this browser"
                    prop:disabled=move || running() || counts.get().3 == 0 on:click=move |_| batch.clear()>"Clear"</button>
                <p class="hint">"…or drop images, folders and a labels CSV here. Results are kept in this browser as they arrive, so closing the tab loses nothing."</p>
            </div>
            <Resumed/>
            {move || batch.notice.get().map(|n| view! { <p class="notice" role="status" data-testid="batch-notice">{n}</p> })}
            {move || batch.blocked.get().map(|b| view! { <p class="error" role="alert" data-testid="batch-blocked">{b}</p> })}
            <Show when=move || { counts.get().3 > 0 }>
                {move || batch.journal_warning().map(|w| view! { <p class="error" role="alert" data-testid="batch-journal-warning">{w}</p> })}
                <p class="status" role="status" aria-live="polite" data-testid="batch-status"
                    data-done=move || counts.get().0.to_string() data-failed=move || counts.get().1.to_string()
                    data-total=move || counts.get().3.to_string() data-running=move || running().to_string()>
                    <progress max=move || counts.get().3.to_string() value=move || (counts.get().0 + counts.get().1).to_string()></progress>
                    {move || {
                        let (done, failed, waiting, total) = counts.get();
                        let load = if state.model_info().is_none() && done + failed < total { " (load a model to start)" } else { "" };
                        let waiting = if waiting > 0 { format!(", {waiting} waiting for their files") } else { String::new() };
                        format!(" {done} of {total} analysed, {failed} failed{waiting}{load}")
                    }}
                </p>
                <div class="batch-exports">
                    <button type="button" data-testid="export-csv" prop:disabled=export_disabled
                        on:click=move |_| exports.start(state, ExportKind::Csv)>"Export CSV"</button>
                    <button type="button" data-testid="export-json" prop:disabled=export_disabled
                        on:click=move |_| exports.start(state, ExportKind::Json)>"Export JSON"</button>
                    <button type="button" data-testid="export-overlays" title="Every finding's heat-map overlay as PNG, in one zip"
                        prop:disabled=move || export_disabled() || running()
                        on:click=move |_| exports.start(state, ExportKind::Overlays)>"Export overlays (ZIP)"</button>
                    <span class="hint" role="status" data-testid="export-status" data-running=move || exports.running.get().to_string()>
                        {move || exports.status.get()}
                    </span>
                </div>
                <BatchTable actions=actions thresholds=thresholds/>
            </Show>
            <LabelledScores thresholds=thresholds/>
        </section>
    }
}
