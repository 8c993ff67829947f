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
mod inputs;
mod journal;
mod labels;
mod queue;
mod scores;
mod state;
mod table;

use super::{Actions, AppState};
use crate::app::folding_panel::FoldingPanel;
use export::{ExportKind, Exports};
use inputs::BatchInputs;
use leptos::prelude::*;
use scores::LabelledScores;
use table::BatchTable;

pub use state::BatchState;
use state::ItemStatus;

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

/// How far the batch has come.
#[derive(Clone, Copy, PartialEq)]
struct Counts {
    done: usize,
    failed: usize,
    /// Queued, waiting for its file to be picked again.
    waiting: usize,
    total: usize,
}

impl Counts {
    fn of(batch: BatchState) -> Self {
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
            Self {
                done,
                failed,
                waiting,
                total: items.len(),
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
    let counts = Memo::new(move |_| Counts::of(batch));
    let exports = Exports::new();

    view! {
        <FoldingPanel title="Many images" testid="batch-panel" class="batch">
            <BatchInputs has_items=Signal::derive(move || counts.get().total > 0)/>
            <Resumed/>
            {move || batch.notice.get().map(|n| view! { <p class="notice" role="status" data-testid="batch-notice">{n}</p> })}
            {move || batch.blocked.get().map(|b| view! { <p class="error" role="alert" data-testid="batch-blocked">{b}</p> })}
            <Show when=move || { counts.get().total > 0 }>
                {move || batch.journal_warning().map(|w| view! { <p class="error" role="alert" data-testid="batch-journal-warning">{w}</p> })}
                <BatchProgress counts=counts/>
                <ExportButtons exports=exports counts=counts/>
                <BatchTable actions=actions thresholds=thresholds/>
            </Show>
            <LabelledScores thresholds=thresholds/>
        </FoldingPanel>
    }
}

/// How many images are analysed, failed and waiting, as a bar and in words.
#[component]
fn BatchProgress(counts: Memo<Counts>) -> impl IntoView {
    let state = expect_context::<AppState>();
    let running = move || state.batch.is_running();
    view! {
        <p class="status" role="status" aria-live="polite" data-testid="batch-status"
            data-done=move || counts.get().done.to_string() data-failed=move || counts.get().failed.to_string()
            data-total=move || counts.get().total.to_string() data-running=move || running().to_string()
            data-saved=move || state.batch.saved().to_string()>
            <progress max=move || counts.get().total.to_string() value=move || (counts.get().done + counts.get().failed).to_string()></progress>
            {move || {
                let Counts { done, failed, waiting, total } = counts.get();
                let load = if state.model_info().is_none() && done + failed < total { " (load a model to start)" } else { "" };
                let waiting = if waiting > 0 { format!(", {waiting} waiting for their files") } else { String::new() };
                format!(" {done} of {total} analysed, {failed} failed{waiting}{load}")
            }}
        </p>
    }
}

/// The exports of what is done, and how the one under way is going.
#[component]
fn ExportButtons(exports: Exports, counts: Memo<Counts>) -> impl IntoView {
    let state = expect_context::<AppState>();
    let export_disabled = move || counts.get().done == 0 || exports.running.get();
    view! {
        <div class="batch-exports">
            <button type="button" data-testid="export-csv" prop:disabled=export_disabled
                on:click=move |_| exports.start(state, ExportKind::Csv)>"Export CSV"</button>
            <button type="button" data-testid="export-json" prop:disabled=export_disabled
                on:click=move |_| exports.start(state, ExportKind::Json)>"Export JSON"</button>
            <button type="button" data-testid="export-overlays" title="Every finding's heat-map overlay as PNG, in one zip"
                prop:disabled=move || export_disabled() || state.batch.is_running()
                on:click=move |_| exports.start(state, ExportKind::Overlays)>"Export overlays (ZIP)"</button>
            <button type="button" data-testid="export-dicom-batch"
                title="For each DICOM: a Structured Report of every probability and decision, and each finding's overlay as a Secondary Capture, in its study, in one zip"
                prop:disabled=move || export_disabled() || state.batch.is_running()
                on:click=move |_| exports.start(state, ExportKind::Dicom)>"Export DICOM (ZIP)"</button>
            <span class="hint" role="status" data-testid="export-status" data-running=move || exports.running.get().to_string()>
                {move || exports.status.get()}
            </span>
        </div>
    }
}
