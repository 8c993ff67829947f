//! Probabilities for every label, findings above threshold, the threshold slider.

use super::report::PrintReport;
use super::{AnalysisStatus, AppState};
use leptos::prelude::*;

#[derive(Clone, PartialEq)]
struct Row {
    label: String,
    probability: f32,
    finding: bool,
}

#[component]
pub fn Results() -> impl IntoView {
    let state = expect_context::<AppState>();
    let actions = expect_context::<super::Actions>();
    // Rows sorted by probability; re-filtering by threshold needs no new analysis.
    let rows = Memo::new(move |_| {
        let (AnalysisStatus::Done { probabilities, .. }, Some(info)) = (state.analysis.get(), state.model_info())
        else {
            return Vec::new();
        };
        let thresholds = info.thresholds.with_default(state.threshold.get());
        let mut rows: Vec<Row> = info
            .labels
            .iter()
            .zip(probabilities)
            .map(|(label, probability)| Row {
                label: label.clone(),
                probability,
                finding: thresholds.is_finding(label, probability),
            })
            .collect();
        rows.sort_by(|a, b| b.probability.total_cmp(&a.probability));
        rows
    });

    view! {
        <div class="panel">
            <h2>"Findings"</h2>
            <PrintReport/>
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
            <ul class="findings" aria-label="Findings at or above threshold">
                <For each=move || rows.get().into_iter().filter(|r| r.finding) key=|r| r.label.clone() let:row>
                    <li data-testid="finding" data-label=row.label.clone()>
                        {format!("{} — {:.1}%", row.label, row.probability * 100.0)}
                    </li>
                </For>
            </ul>
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
                        <tr
                            data-testid="probability"
                            data-label=row.label.clone()
                            data-value=row.probability.to_string()
                            class={if row.finding { "above" } else { "" }}
                        >
                            // The bar sits under the label, so that it keeps the row's
                            // width however narrow the screen and long the label.
                            <th scope="row">
                                {row.label.clone()}
                                <div class="bar" style:width=format!("{:.1}%", row.probability * 100.0)></div>
                            </th>
                            <td class="value">{format!("{:.3}", row.probability)}</td>
                            // In words too: colour is never the only mark of a finding.
                            <td class="mark" data-testid="finding-mark">{if row.finding { "finding" } else { "" }}</td>
                            <td>
                                <button
                                    class="small"
                                    data-testid="map-button"
                                    aria-label=format!("Heat map for {}", row.label)
                                    title="Show the heat map for this label"
                                    on:click={
                                        let label = row.label.clone();
                                        move |_| {
                                            let index = state.model_info().and_then(|i| i.labels.iter().position(|l| *l == label));
                                            if let Some(i) = index { actions.request_heatmaps(vec![i]); }
                                        }
                                    }
                                >"map"</button>
                            </td>
                        </tr>
                    </For>
                </tbody>
            </table>
        </div>
    }
}
