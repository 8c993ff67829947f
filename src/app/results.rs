//! Probabilities for every label, findings above threshold, the threshold slider.

use super::dicom_export::DicomExport;
use super::report::PrintReport;
use super::sensitivity::SensitivityPanel;
use super::suitability::{SuitabilityNotice, TypicalityLine};
use super::{AnalysisStatus, AppState};
use chexlens_checkpoints::combine::{self, DISAGREEMENT_SPREAD};
use leptos::prelude::*;

#[derive(Clone, PartialEq)]
struct Row {
    /// The label's index in the model's order.
    index: usize,
    label: String,
    probability: f32,
    finding: bool,
    /// Each member's probability (empty for a single model).
    members: Vec<f32>,
    disagree: bool,
}

impl Row {
    /// The mark cell's words: colour is never the only mark.
    fn mark(&self) -> &'static str {
        match (self.finding, self.disagree) {
            (true, true) => "finding; members disagree",
            (true, false) => "finding",
            (false, true) => "members disagree",
            (false, false) => "",
        }
    }
}

/// The members' probabilities on a 0–1 line (circles), with the
/// ensemble's as a line across it.
#[component]
fn MemberDots(members: Vec<f32>, ensemble: f32) -> impl IntoView {
    let described = members.iter().map(|p| format!("{p:.3}")).collect::<Vec<_>>().join(", ");
    let values = members.iter().map(f32::to_string).collect::<Vec<_>>().join(",");
    let at = |p: f32| format!("{:.2}%", p.clamp(0.0, 1.0) * 100.0);
    view! {
        <div
            class="member-dots"
            role="img"
            aria-label=format!("Members: {described}")
            data-testid="member-dots"
            data-values=values
        >
            <span class="ensemble" style:left=at(ensemble)></span>
            {members.iter().map(|&p| view! { <span class="member" style:left=at(p)></span> }).collect_view()}
        </div>
    }
}

/// Every label's row, most probable first; none until an analysis is done.
fn probability_rows(state: AppState) -> Vec<Row> {
    let (
        AnalysisStatus::Done {
            probabilities,
            member_probabilities,
            ..
        },
        Some(info),
    ) = (state.analysis.get(), state.model_info())
    else {
        return Vec::new();
    };
    let thresholds = info.thresholds.with_default(state.threshold.get());
    let several = member_probabilities.len() > 1;
    let mut rows: Vec<Row> = info
        .labels
        .iter()
        .zip(probabilities)
        .enumerate()
        .map(|(c, (label, probability))| Row {
            index: c,
            label: label.clone(),
            probability,
            finding: thresholds.is_finding(label, probability),
            members: if several {
                member_probabilities.iter().filter_map(|m| m.get(c).copied()).collect()
            } else {
                Vec::new()
            },
            disagree: several && combine::members_disagree(&member_probabilities, c),
        })
        .collect();
    rows.sort_by(|a, b| b.probability.total_cmp(&a.probability));
    rows
}

#[component]
pub fn Results() -> impl IntoView {
    let state = expect_context::<AppState>();
    // Rows sorted by probability; re-filtering by threshold needs no new analysis.
    let rows = Memo::new(move |_| probability_rows(state));

    view! {
        <div class="panel">
            <h2>"Findings"</h2>
            <PrintReport/>
            <DicomExport/>
            <ThresholdSlider/>
            <AnalysisLine/>
            <SuitabilityNotice/>
            <TypicalityLine/>
            // Withheld (greyed, not operable) while the image has warnings,
            // until the user asks to see them.
            <div class="findings-body" data-testid="findings-body"
                class:withheld=move || state.withheld() prop:inert=move || state.withheld()>
            <Show when=move || rows.get().iter().any(|r| !r.members.is_empty())>
                <p class="hint member-legend">
                    "Under each bar: every member's probability (circles) and the ensemble's (line). "
                    {format!("\"Members disagree\" where they span {DISAGREEMENT_SPREAD} or more.")}
                </p>
            </Show>
            <SensitivityPanel/>
            <ul class="findings" aria-label="Findings at or above threshold">
                <For each=move || rows.get().into_iter().filter(|r| r.finding) key=|r| r.label.clone() let:row>
                    <li data-testid="finding" data-label=row.label.clone()>
                        {format!("{} — {:.1}%", row.label, row.probability * 100.0)}
                    </li>
                </For>
            </ul>
            <ProbabilityTable rows=rows/>
            </div>
        </div>
    }
}

/// The threshold above which a probability is a finding.
#[component]
fn ThresholdSlider() -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <label class="threshold">
            "Threshold "
            <input
                type="range" min="0" max="1" step="0.01" data-testid="threshold"
                prop:value=move || state.threshold.get().to_string()
                on:input=move |ev| {
                    if let Ok(v) = event_target_value(&ev).parse::<f32>() {
                        state.threshold.set(v.clamp(0.0, 1.0));
                    }
                }
            />
            <output>{move || format!("{:.2}", state.threshold.get())}</output>
        </label>
    }
}

/// Where the analysis stands, read out as it changes.
#[component]
fn AnalysisLine() -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <div
            class="analysis"
            data-testid="analysis-status"
            data-state=move || state.analysis.get().state_name()
            data-run=move || state.pending.get().to_string()
            aria-live="polite"
        >
            {move || match state.analysis.get() {
                AnalysisStatus::Idle => "Load a model and open an X-ray to see results.".to_string(),
                AnalysisStatus::Running => "Analysing…".to_string(),
                AnalysisStatus::Done { elapsed_ms, .. } => format!(
                    "Analysed in {:.0} ms on {}.",
                    elapsed_ms,
                    state.model_info().map(|i| i.backend.name()).unwrap_or("-")
                ),
                AnalysisStatus::Error(message) => format!("Analysis failed: {message}"),
            }}
        </div>
    }
}

/// Every label's probability, most probable first.
#[component]
fn ProbabilityTable(rows: Memo<Vec<Row>>) -> impl IntoView {
    view! {
        <table class="probabilities">
            <caption class="sr-only">"Probability of each label, most probable first"</caption>
            <thead>
                <tr>
                    <th scope="col" class="sr-only">"Label"</th>
                    <th scope="col" class="sr-only">"Probability"</th>
                    <th scope="col" class="sr-only">"Finding"</th>
                    <th scope="col" class="sr-only">"Heat map"</th>
                </tr>
            </thead>
            <tbody>
                <For each=move || rows.get() key=|r| (r.label.clone(), r.probability.to_bits(), r.finding) let:row>
                    <ProbabilityRow row=row/>
                </For>
            </tbody>
        </table>
    }
}

/// Arrow keys move the selection to the row above or below (and focus
/// it); Enter or Space selects the row in focus.
fn row_keys(actions: super::Actions, index: usize, ev: leptos::ev::KeyboardEvent) {
    use wasm_bindgen::JsCast;
    let Some(row) = ev.current_target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) else {
        return;
    };
    let next = match ev.key().as_str() {
        "ArrowDown" => row.next_element_sibling(),
        "ArrowUp" => row.previous_element_sibling(),
        "Enter" | " " => {
            ev.prevent_default();
            actions.select_label(index);
            return;
        }
        _ => return,
    };
    ev.prevent_default();
    if let Some(next) = next.and_then(|n| n.dyn_into::<web_sys::HtmlElement>().ok()) {
        let _ = next.focus();
        if let Some(i) = next.get_attribute("data-index").and_then(|i| i.parse().ok()) {
            actions.select_label(i);
        }
    }
}

#[component]
fn ProbabilityRow(row: Row) -> impl IntoView {
    let state = expect_context::<AppState>();
    let actions = expect_context::<super::Actions>();
    let index = row.index;
    let selected = move || state.selected_label.get() == Some(index);
    view! {
        <tr
            data-testid="probability"
            data-label=row.label.clone()
            data-index=index.to_string()
            data-value=row.probability.to_string()
            class={if row.finding { "above" } else { "" }}
            class:selected=selected
            aria-current=move || selected().then_some("true")
            tabindex="0"
            title="Select to see its heat map on the image (arrow keys move)"
            on:click=move |_| actions.select_label(index)
            on:keydown=move |ev| row_keys(actions, index, ev)
        >
            // The bar sits under the label, so that it keeps the row's
            // width however narrow the screen and long the label.
            <th scope="row">
                {row.label.clone()}
                <div class="bar" style:width=format!("{:.1}%", row.probability * 100.0)></div>
                {(!row.members.is_empty()).then(|| view! { <MemberDots members=row.members.clone() ensemble=row.probability/> })}
            </th>
            <td class="value">{format!("{:.3}", row.probability)}</td>
            // In words too: colour is never the only mark of a finding.
            <td class="mark" data-testid="finding-mark" data-disagree=row.disagree.to_string()>{row.mark()}</td>
            <td>
                <MapButton label=row.label.clone()/>
            </td>
        </tr>
    }
}

/// Asks for one label's heat map.
#[component]
fn MapButton(label: String) -> impl IntoView {
    let state = expect_context::<AppState>();
    let actions = expect_context::<super::Actions>();
    view! {
        <button
            class="small"
            data-testid="map-button"
            aria-label=format!("Heat map for {label}")
            title="Show the heat map for this label"
            on:click=move |_| {
                let index = state.model_info().and_then(|i| i.labels.iter().position(|l| *l == label));
                if let Some(i) = index { actions.request_heatmaps(vec![i]); }
            }
        >"map"</button>
    }
}
