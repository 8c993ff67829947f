//! The sortable table of every image's probabilities, a page of rows at a
//! time: at ten thousand images the page stays quick to render, to sort
//! and to move through with a keyboard or a screen reader (the table says
//! how many rows it has and where each shown row stands).

use super::state::{BatchItem, ItemStatus, SortBy};
use crate::app::{Actions, AppState, read_file};
use chexlens_checkpoints::manifest::Thresholds;
use leptos::prelude::*;

/// Rows shown at once.
pub const PAGE_ROWS: usize = 100;

/// Opens item `index` in the main view, reading its file again.
fn open(state: AppState, actions: Actions, index: usize, path: String) {
    let Some(file) = state.batch.file(index) else {
        state.error.set(Some(format!(
            "{path}: its file is not open in this page since it was reloaded; pick the images or folder again to see it"
        )));
        return;
    };
    leptos::task::spawn_local(async move {
        match read_file(&file).await {
            Ok(bytes) => actions.open_image(path, bytes),
            Err(e) => state.error.set(Some(e)),
        }
    });
}

fn status_text(item: &BatchItem, has_file: bool) -> (String, &'static str) {
    match &item.status {
        ItemStatus::Queued if !has_file => ("waiting for its file".into(), "waiting"),
        ItemStatus::Queued => ("queued".into(), "queued"),
        ItemStatus::Running => ("analysing…".into(), "running"),
        ItemStatus::Done(_) => ("done".into(), "done"),
        ItemStatus::Failed(e) => (format!("failed: {e}"), "failed"),
    }
}

/// Every image's probabilities; findings marked with a dot as well as colour.
#[component]
pub fn BatchTable(actions: Actions, thresholds: Memo<Option<Thresholds>>) -> impl IntoView {
    let state = expect_context::<AppState>();
    let batch = state.batch;
    let labels = move || {
        batch
            .model
            .get()
            .or_else(|| state.model_info())
            .map(|i| i.labels)
            .unwrap_or_default()
    };
    // Item indices in table order.
    let order = Memo::new(move |_| {
        let (by, descending) = batch.sort.get();
        batch.items.with(|items| {
            let mut order: Vec<usize> = (0..items.len()).collect();
            let value = |i: usize, label: usize| match &items[i].status {
                ItemStatus::Done(p) => p.get(label).copied().unwrap_or(-1.0),
                _ => -1.0,
            };
            match by {
                SortBy::Image => order.sort_by(|&a, &b| items[a].path.cmp(&items[b].path)),
                SortBy::Label(l) => order.sort_by(|&a, &b| value(a, l).total_cmp(&value(b, l))),
            }
            if descending {
                order.reverse();
            }
            order
        })
    });
    let page = RwSignal::new(0usize);
    let total = move || order.with(Vec::len);
    let pages = move || total().div_ceil(PAGE_ROWS).max(1);
    let shown_page = move || page.get().min(pages() - 1);
    let go = move |to: usize| page.set(to.min(pages() - 1));
    let sort_by = move |by: SortBy| {
        batch.sort.update(|(current, descending)| {
            *descending = if *current == by {
                !*descending
            } else {
                matches!(by, SortBy::Label(_))
            };
            *current = by;
        });
        page.set(0);
    };
    let order_of = move |by: SortBy| match batch.sort.get() {
        (current, true) if current == by => "descending",
        (current, false) if current == by => "ascending",
        _ => "none",
    };
    let rows = move || {
        let first = shown_page() * PAGE_ROWS;
        let shown: Vec<usize> = order.with(|o| o.iter().skip(first).take(PAGE_ROWS).copied().collect());
        batch.items.with(|items| {
            shown
                .into_iter()
                .enumerate()
                .map(|(n, i)| (first + n, i, items[i].clone()))
                .collect::<Vec<_>>()
        })
    };
    let range = move || {
        let first = shown_page() * PAGE_ROWS;
        format!(
            "Rows {}–{} of {} (page {} of {})",
            (first + 1).min(total()),
            (first + PAGE_ROWS).min(total()),
            total(),
            shown_page() + 1,
            pages()
        )
    };
    view! {
        <Show when=move || { pages() > 1 }>
            <nav class="pager" aria-label="Pages of the table" data-testid="batch-pager">
                <button type="button" prop:disabled=move || shown_page() == 0 on:click=move |_| go(0)>"First"</button>
                <button type="button" data-testid="batch-page-previous" prop:disabled=move || shown_page() == 0
                    on:click=move |_| go(shown_page().saturating_sub(1))>"Previous"</button>
                <span role="status" data-testid="batch-page" data-page=move || shown_page().to_string()>{range}</span>
                <button type="button" data-testid="batch-page-next" prop:disabled=move || { shown_page() + 1 >= pages() }
                    on:click=move |_| go(shown_page() + 1)>"Next"</button>
                <button type="button" prop:disabled=move || { shown_page() + 1 >= pages() } on:click=move |_| go(pages() - 1)>"Last"</button>
            </nav>
        </Show>
        <div class="batch-table-wrap">
            <table class="batch-table" data-testid="batch-table" aria-rowcount=move || (total() + 1).to_string()>
                <caption>"Probabilities per image (● at or above the threshold). Choose a column to sort; choose an image to see it with its heat maps."</caption>
                <thead>
                    <tr aria-rowindex="1">
                        <th scope="col" aria-sort=move || order_of(SortBy::Image)>
                            <button type="button" class="sort" on:click=move |_| sort_by(SortBy::Image)>"Image"</button>
                        </th>
                        <th scope="col">"Status"</th>
                        {move || labels().into_iter().enumerate().map(|(i, label)| view! {
                            <th scope="col" aria-sort=move || order_of(SortBy::Label(i))>
                                <button type="button" class="sort" on:click=move |_| sort_by(SortBy::Label(i))>{label}</button>
                            </th>
                        }).collect_view()}
                    </tr>
                </thead>
                <tbody>
                    {move || {
                        let labels = labels();
                        let thresholds = thresholds.get().unwrap_or_default();
                        rows().into_iter().map(|(position, index, item)| {
                            let (status, state_name) = status_text(&item, batch.has_file(index));
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
                                <tr data-testid="batch-row" data-path=item.path.clone() data-state=state_name
                                    aria-rowindex=(position + 2).to_string()>
                                    <th scope="row">
                                        <button type="button" class="link" title="Show this image with its heat maps"
                                            on:click=move |_| open(state, actions, index, path.clone())>{item.path.clone()}</button>
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
