//! The sortable table of every image's probabilities.

use super::{BatchItem, ItemStatus, SortBy};
use crate::app::{Actions, AppState};
use chexlens_formats::Thresholds;
use leptos::prelude::*;

/// Every image's probabilities; findings marked with a dot as well as colour.
#[component]
pub fn BatchTable(actions: Actions, thresholds: Memo<Option<Thresholds>>) -> impl IntoView {
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
