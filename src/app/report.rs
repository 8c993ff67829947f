//! A printable one-page report of the image in view: the browser's print
//! (to paper or PDF) shows the image, its heat maps, the probability table,
//! what produced them and the disclaimer; the print style sheet hides the
//! controls and the rest of the page.

use super::{AnalysisStatus, AppState};
use chexlens_chexpert::metadata::Choice;
use leptos::prelude::*;

fn print() {
    if let Some(window) = web_sys::window() {
        let _ = window.print();
    }
}

/// What produced the numbers, in the report's words.
fn details(state: AppState) -> Vec<(&'static str, String)> {
    let Some(info) = state.model_info() else {
        return Vec::new();
    };
    let m = state.metadata.get();
    let mut image = state.image.get().map(|i| i.name).unwrap_or_default();
    // Which frame of a multi-frame DICOM the numbers are of.
    if let Some(summary) = state.dicom.get().map(|d| d.summary).filter(|s| s.frames > 1) {
        image.push_str(&format!(" (frame {} of {})", summary.frame, summary.frames));
    }
    let sha: Vec<String> = info
        .member_sha256
        .iter()
        .map(|s| {
            s.as_deref()
                .map_or("(not given)".to_string(), |s| s[..s.len().min(12)].to_string())
        })
        .collect();
    let age = m.age.map_or("unknown".to_string(), |a| format!("{a}"));
    let thresholds = info.thresholds.with_default(state.threshold.get());
    let per_label = if thresholds.per_label.is_empty() {
        ""
    } else {
        " (the model's own where it sets one)"
    };
    vec![
        ("Image", image),
        (
            "Model",
            format!("{} ({} members, {})", info.name, info.members, info.backend.name()),
        ),
        ("Member sha256", sha.join(", ")),
        (
            "Patient metadata",
            format!(
                "{}, age {age}, {}, {}",
                m.sex.label(),
                m.view.label(),
                m.projection.label()
            ),
        ),
        ("Threshold", format!("{:.2}{per_label}", thresholds.default)),
        (
            "Input",
            format!("{0}x{0} px, {1:?} resize", info.input.size, info.input.resize_filter),
        ),
        ("chexlens", env!("CARGO_PKG_VERSION").to_string()),
    ]
}

#[component]
pub fn PrintReport() -> impl IntoView {
    let state = expect_context::<AppState>();
    let done = move || matches!(state.analysis.get(), AnalysisStatus::Done { .. });
    view! {
        <button type="button" class="print-button" data-testid="print-report" prop:disabled=move || !done()
            title="The image, its heat maps and the probabilities on one page, through the browser's print dialog (save as PDF there)"
            on:click=move |_| print()>"Print report…"</button>
        <dl class="report-details" data-testid="report-details">
            {move || details(state).into_iter().map(|(term, value)| view! { <dt>{term}</dt><dd>{value}</dd> }).collect_view()}
        </dl>
    }
}
