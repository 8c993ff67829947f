//! Whether the image is one the model can answer for: its warnings (from
//! the file, and from the distance of its features to the model's
//! reference radiographs) beside the result, the findings withheld behind
//! a "show anyway" choice, and what the model's reference statistics are.

use super::{AnalysisStatus, AppState};
use chexlens_images::suitability::{Warning, WarningCode};
use chexlens_reference::statistics::Typicality;
use leptos::prelude::*;

fn code_name(code: WarningCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn warnings_and_typicality(state: AppState) -> (Vec<Warning>, Option<Typicality>) {
    state.analysis.with(|a| match a {
        AnalysisStatus::Done {
            warnings, typicality, ..
        } => (warnings.clone(), typicality.clone()),
        _ => (Vec::new(), None),
    })
}

/// The warnings of the analysis in view, and the choice to see its findings.
#[component]
pub fn SuitabilityNotice() -> impl IntoView {
    let state = expect_context::<AppState>();
    let warnings = Memo::new(move |_| warnings_and_typicality(state).0);
    let show_anyway = move |_| {
        let serial = state.image.with_untracked(|i| i.as_ref().map(|i| i.serial));
        state.shown_anyway.set(serial);
    };
    view! {
        <Show when=move || !warnings.get().is_empty()>
            <div class="suitability" role="alert" data-testid="suitability">
                <strong>"This may not be a chest radiograph"</strong>
                <ul>
                    {move || warnings.get().into_iter().map(|w| view! {
                        <li data-testid="warning" data-code=code_name(w.code)>{w.message}</li>
                    }).collect_view()}
                </ul>
                <Show
                    when=move || state.withheld()
                    fallback=|| view! {
                        <p class="hint">"Shown at your request: the model was trained on chest radiographs only, so these numbers may mean nothing."</p>
                    }
                >
                    <p>"The findings are withheld: the model was trained on chest radiographs only, and its numbers for other images mean nothing."</p>
                    <button type="button" data-testid="show-anyway" on:click=show_anyway>"Show findings anyway"</button>
                </Show>
            </div>
        </Show>
    }
}

/// How far the image's features lie from the reference radiographs, or
/// that the model has no reference statistics.
#[component]
pub fn TypicalityLine() -> impl IntoView {
    let state = expect_context::<AppState>();
    let line = move || {
        let done = state.analysis.with(|a| matches!(a, AnalysisStatus::Done { .. }));
        let has_reference = state.model_info().is_some_and(|i| i.reference.is_some());
        match warnings_and_typicality(state).1 {
            Some(t) => {
                let distances = t.distances.iter().map(f64::to_string).collect::<Vec<_>>().join(",");
                Some(view! {
                <p class="hint typicality" data-testid="typicality"
                    data-distances=distances
                    data-ratio=t.ratio.to_string()>
                    {format!(
                        "Distance to the reference radiographs: {:.2}× the warning threshold ({}).",
                        t.ratio,
                        percentile_words(&t)
                    )}
                </p>
            }
            .into_any())
            }
            None if done && !has_reference => Some(view! {
                <p class="hint typicality" data-testid="typicality">
                    "No reference statistics: this image is checked by its file only, not by how unlike the reference radiographs it looks."
                </p>
            }
            .into_any()),
            None => None,
        }
    };
    view! { {line} }
}

/// Where the image stands among the reference radiographs, in words:
/// the median member's share of them that lie nearer.
fn percentile_words(t: &Typicality) -> String {
    let mut sorted = t.percentiles.clone();
    sorted.sort_by(f64::total_cmp);
    match sorted.get(sorted.len() / 2) {
        Some(&p) if p >= 100.0 => "farther than all of them".to_owned(),
        Some(&p) => format!("farther than {p:.0}% of them"),
        None => String::new(),
    }
}

/// What the model panel says of its reference statistics.
#[component]
pub fn ReferenceStatus() -> impl IntoView {
    let state = expect_context::<AppState>();
    move || {
        state.model_info().map(|info| {
            let text = match info.reference {
                Some(r) => format!(
                    "Reference statistics of {} radiographs: an image whose features lie beyond the {}th percentile of theirs is warned.",
                    r.images, r.percentile
                ),
                None => "No reference statistics: images are checked by their files only (DICOM modality and body part, colour, shape).".to_owned(),
            };
            view! { <p class="hint" data-testid="reference-status">{text}</p> }
        })
    }
}
