//! The batch's inputs: images and folders picked or dropped, a labels CSV
//! picked or dropped with them, and the buttons that cancel or clear.

use super::dropped;
use super::labels::Labelled;
use crate::app::{AppState, read_file};
use chexlens_research::labelled::LabelledSet;
use leptos::prelude::*;
use web_sys::{File, HtmlInputElement};

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

/// The drop zone with the pickers, cancel and clear; `has_items`: whether
/// there is a batch to clear.
#[component]
pub fn BatchInputs(#[prop(into)] has_items: Signal<bool>) -> impl IntoView {
    let state = expect_context::<AppState>();
    let batch = state.batch;
    // The folder picker's attribute is not in Leptos's list of input attributes.
    let folder_input = NodeRef::<leptos::html::Input>::new();
    let dragging = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(input) = folder_input.get() {
            let _ = input.set_attribute("webkitdirectory", "");
        }
    });
    view! {
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
            <button type="button" data-testid="batch-cancel" prop:disabled=move || !batch.is_running() on:click=move |_| batch.cancel()>"Cancel"</button>
            <button type="button" data-testid="batch-clear" title="Forget this batch and its results kept in this browser"
                prop:disabled=move || batch.is_running() || !has_items.get() on:click=move |_| batch.clear()>"Clear"</button>
            <p class="hint">"…or drop images, folders and a labels CSV here. Results are kept in this browser as they arrive, so closing the tab loses nothing."</p>
        </div>
    }
}
