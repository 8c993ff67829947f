//! How much each finding's probability moves when one field of the
//! metadata changes (the other sex, age ±10 years, the other view or
//! projection). Computed on request in the worker from the analysis' kept
//! backbone passes, so only the layers after the backbone run again.

use super::{Actions, AnalysisStatus, AppState, Sensitivity};
use chexlens_chexpert::metadata::MetadataChange;
use leptos::prelude::*;

/// A finding's row: its label, its probability, and under each change.
#[derive(Clone, PartialEq)]
struct Row {
    label: String,
    probability: f32,
    changed: Vec<f32>,
}

#[component]
pub fn SensitivityPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let actions = expect_context::<Actions>();
    let done = move || matches!(state.analysis.get(), AnalysisStatus::Done { .. });
    let result = move || match (state.sensitivity.get(), state.analysis.get(), state.model_info()) {
        (Sensitivity::Done { changes, elapsed_ms }, AnalysisStatus::Done { probabilities, .. }, Some(info)) => {
            let thresholds = info.thresholds.with_default(state.threshold.get());
            let mut rows: Vec<Row> = (0..info.labels.len())
                .filter(|&c| thresholds.is_finding(&info.labels[c], probabilities[c]))
                .map(|c| Row {
                    label: info.labels[c].clone(),
                    probability: probabilities[c],
                    changed: changes.iter().map(|(_, p)| p[c]).collect(),
                })
                .collect();
            rows.sort_by(|a, b| b.probability.total_cmp(&a.probability));
            let heads: Vec<MetadataChange> = changes.into_iter().map(|(c, _)| c).collect();
            Some((heads, rows, elapsed_ms))
        }
        _ => None,
    };

    view! {
        <div class="sensitivity">
            <button
                type="button"
                data-testid="sensitivity-button"
                prop:disabled=move || !done() || state.sensitivity.get() == Sensitivity::Running
                on:click=move |_| actions.request_sensitivity()
            >
                "How much does the metadata matter?"
            </button>
            {move || match state.sensitivity.get() {
                Sensitivity::Running => view! { <p class="hint" aria-live="polite">"Running the model's head for each change…"</p> }.into_any(),
                Sensitivity::Failed(message) => view! { <p class="failed">"Could not compute it: " {message}</p> }.into_any(),
                _ => ().into_any(),
            }}
            {move || result().map(|(heads, rows, elapsed_ms)| view! {
                <SensitivityTable heads=heads rows=rows elapsed_ms=elapsed_ms/>
            })}
        </div>
    }
}

#[component]
fn SensitivityTable(heads: Vec<MetadataChange>, rows: Vec<Row>, elapsed_ms: f64) -> impl IntoView {
    let count = heads.len();
    view! {
        // Focusable, so that a keyboard can scroll it where it is wider than the screen.
        <div class="table-scroll" tabindex="0" role="region" aria-label="Metadata sensitivity">
            <table class="sensitivity-table" data-testid="sensitivity">
                <caption>
                    {format!(
                        "Change in each finding's probability when one field of the metadata changes ({count} changes, head only: {elapsed_ms:.0} ms)"
                    )}
                </caption>
                <thead>
                    <tr>
                        <th scope="col">"Finding"</th>
                        {heads.iter().enumerate().map(|(i, h)| {
                            let m = h.metadata;
                            view! {
                                <th
                                    scope="col"
                                    data-testid="sensitivity-change"
                                    data-index=i.to_string()
                                    data-sex=serde_plain(&m.sex)
                                    data-age=m.age.map_or_else(|| "unknown".to_string(), |a| a.to_string())
                                    data-view=serde_plain(&m.view)
                                    data-projection=serde_plain(&m.projection)
                                >{h.change.clone()}</th>
                            }
                        }).collect_view()}
                    </tr>
                </thead>
                <tbody>
                    {if rows.is_empty() {
                        view! { <tr><td colspan=(count + 1).to_string()>"No findings at this threshold."</td></tr> }.into_any()
                    } else {
                        rows.into_iter().map(|row| view! {
                            <tr>
                                <th scope="row">{format!("{} ({:.3})", row.label, row.probability)}</th>
                                {row.changed.iter().enumerate().map(|(i, &p)| {
                                    let delta = p - row.probability;
                                    view! {
                                        <td
                                            data-testid="sensitivity-cell"
                                            data-label=row.label.clone()
                                            data-index=i.to_string()
                                            data-value=p.to_string()
                                            title=format!("{p:.3}")
                                        >{format!("{delta:+.3}")}</td>
                                    }
                                }).collect_view()}
                            </tr>
                        }).collect_view().into_any()
                    }}
                </tbody>
            </table>
        </div>
    }
}

/// A metadata choice as the CLI's flags spell it (its serde name).
fn serde_plain<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
