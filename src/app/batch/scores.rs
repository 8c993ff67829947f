//! The labelled set scored in the page with the model crate's evaluation
//! code: AUROC with DeLong CIs, AUPRC, operating points and ROC curves.

use super::BatchState;
use super::state::ItemStatus;
use crate::app::AppState;
use crate::protocol::ModelInfo;
use chexlens_checkpoints::manifest::Thresholds;
use chexlens_research::evaluation::{self, Evaluation, UncertainPolicy, plots};
use leptos::prelude::*;

/// The labelled set scored on the images analysed so far.
fn evaluate(batch: BatchState, info: &ModelInfo, thresholds: &Thresholds) -> Option<Evaluation> {
    let labelled = batch.labels.get()?;
    let columns = evaluation::columns_of(&labelled.set.labels, &info.labels);
    let rows: Vec<(Vec<f32>, Vec<chexlens_research::labelled::Label>)> = batch.items.with(|items| {
        items
            .iter()
            .filter_map(|item| {
                let ItemStatus::Done(p) = &item.status else { return None };
                let row = labelled.row_for(&item.path)?;
                Some((columns.iter().map(|&c| p[c]).collect(), row.labels.clone()))
            })
            .collect()
    });
    if rows.is_empty() {
        return None;
    }
    Some(evaluation::evaluate_rows(
        &labelled.set.labels,
        &rows,
        batch.policy.get(),
        thresholds,
    ))
}

/// AUROC per label on the labelled images analysed so far, and their ROC curves.
#[component]
pub fn LabelledScores(thresholds: Memo<Option<Thresholds>>) -> impl IntoView {
    let state = expect_context::<AppState>();
    let batch = state.batch;
    let scores = Memo::new(move |_| {
        let info = batch.model.get().or_else(|| state.model_info())?;
        let thresholds = thresholds.get()?;
        evaluate(batch, &info, &thresholds)
    });
    let fmt = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.3}"));
    view! {
        <Show when=move || batch.labels.with(Option::is_some)>
            <div class="labelled" data-testid="labelled-scores">
                <h3>{move || format!("Scored against {}", batch.labels.with(|l| l.as_ref().map(|l| l.name.clone()).unwrap_or_default()))}</h3>
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
