//! The sortable table of every image's probabilities, a page of rows at a
//! time: at ten thousand images the page stays quick to render, to sort
//! and to move through with a keyboard or a screen reader (the table says
//! how many rows it has and where each shown row stands).

use super::state::{BatchItem, BatchState, ItemStatus, SortBy};
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
        ItemStatus::Done(_) if item.warnings.is_empty() => ("done".into(), "done"),
        // Marked in words: the reason, as the image in view shows it.
        ItemStatus::Done(_) => {
            let reasons: Vec<&str> = item.warnings.iter().map(|w| w.message.as_str()).collect();
            (format!("done; warning: {}", reasons.join("; ")), "warned")
        }
        ItemStatus::Failed(e) => (format!("failed: {e}"), "failed"),
    }
}

/// The labels the table has columns for: the batch's model's, else the one loaded.
fn label_names(state: AppState) -> Vec<String> {
    state
        .batch
        .model
        .get()
        .or_else(|| state.model_info())
        .map(|i| i.labels)
        .unwrap_or_default()
}

/// Item indices in table order.
fn table_order(batch: BatchState) -> Vec<usize> {
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
}

/// The table's order and the page of it shown.
#[derive(Clone, Copy)]
struct TablePages {
    batch: BatchState,
    order: Memo<Vec<usize>>,
    page: RwSignal<usize>,
}

impl TablePages {
    fn new(batch: BatchState) -> Self {
        Self {
            batch,
            order: Memo::new(move |_| table_order(batch)),
            page: RwSignal::new(0),
        }
    }

    fn total(self) -> usize {
        self.order.with(Vec::len)
    }

    fn count(self) -> usize {
        self.total().div_ceil(PAGE_ROWS).max(1)
    }

    /// The page asked for, or the last there is.
    fn shown(self) -> usize {
        self.page.get().min(self.count() - 1)
    }

    fn go(self, to: usize) {
        self.page.set(to.min(self.count() - 1));
    }

    /// Sorted by `by`; by it again, the other way. Labels start most probable first.
    fn sort_by(self, by: SortBy) {
        self.batch.sort.update(|(current, descending)| {
            *descending = if *current == by {
                !*descending
            } else {
                matches!(by, SortBy::Label(_))
            };
            *current = by;
        });
        self.page.set(0);
    }

    /// The column's `aria-sort`.
    fn order_of(self, by: SortBy) -> &'static str {
        match self.batch.sort.get() {
            (current, true) if current == by => "descending",
            (current, false) if current == by => "ascending",
            _ => "none",
        }
    }

    /// The shown page's rows: position in the table, item index, item.
    fn rows(self) -> Vec<(usize, usize, BatchItem)> {
        let first = self.shown() * PAGE_ROWS;
        let shown: Vec<usize> = self
            .order
            .with(|o| o.iter().skip(first).take(PAGE_ROWS).copied().collect());
        self.batch.items.with(|items| {
            shown
                .into_iter()
                .enumerate()
                .map(|(n, i)| (first + n, i, items[i].clone()))
                .collect::<Vec<_>>()
        })
    }

    fn range(self) -> String {
        let first = self.shown() * PAGE_ROWS;
        format!(
            "Rows {}–{} of {} (page {} of {})",
            (first + 1).min(self.total()),
            (first + PAGE_ROWS).min(self.total()),
            self.total(),
            self.shown() + 1,
            self.count()
        )
    }
}

/// Every image's probabilities; findings marked with a dot as well as colour.
#[component]
pub fn BatchTable(actions: Actions, thresholds: Memo<Option<Thresholds>>) -> impl IntoView {
    let state = expect_context::<AppState>();
    let pages = TablePages::new(state.batch);
    view! {
        <Show when=move || { pages.count() > 1 }>
            <Pager pages=pages/>
        </Show>
        <div class="batch-table-wrap">
            <table class="batch-table" data-testid="batch-table" aria-rowcount=move || (pages.total() + 1).to_string()>
                <caption>"Probabilities per image (● at or above the threshold). Choose a column to sort; choose an image to see it with its heat maps."</caption>
                <thead>
                    <tr aria-rowindex="1">
                        <SortColumn pages=pages by=SortBy::Image name="Image".to_owned()/>
                        <th scope="col">"Status"</th>
                        {move || label_names(state).into_iter().enumerate().map(|(i, label)| view! {
                            <SortColumn pages=pages by=SortBy::Label(i) name=label/>
                        }).collect_view()}
                    </tr>
                </thead>
                <tbody>
                    {move || {
                        let labels = label_names(state);
                        let thresholds = thresholds.get().unwrap_or_default();
                        pages.rows().into_iter().map(|(position, index, item)| {
                            let cells = result_cells(&item, &labels, &thresholds);
                            view! { <BatchRow actions=actions position=position index=index item=item>{cells}</BatchRow> }
                        }).collect_view()
                    }}
                </tbody>
            </table>
        </div>
    }
}

/// First, previous, where the shown rows stand, next, last.
#[component]
fn Pager(pages: TablePages) -> impl IntoView {
    let shown = move || pages.shown();
    view! {
        <nav class="pager" aria-label="Pages of the table" data-testid="batch-pager">
            <button type="button" prop:disabled=move || shown() == 0 on:click=move |_| pages.go(0)>"First"</button>
            <button type="button" data-testid="batch-page-previous" prop:disabled=move || shown() == 0
                on:click=move |_| pages.go(shown().saturating_sub(1))>"Previous"</button>
            <span role="status" data-testid="batch-page" data-page=move || shown().to_string()>{move || pages.range()}</span>
            <button type="button" data-testid="batch-page-next" prop:disabled=move || { shown() + 1 >= pages.count() }
                on:click=move |_| pages.go(shown() + 1)>"Next"</button>
            <button type="button" prop:disabled=move || { shown() + 1 >= pages.count() } on:click=move |_| pages.go(pages.count() - 1)>"Last"</button>
        </nav>
    }
}

/// A column's heading, a button that sorts by it.
#[component]
fn SortColumn(pages: TablePages, by: SortBy, name: String) -> impl IntoView {
    view! {
        <th scope="col" aria-sort=move || pages.order_of(by)>
            <button type="button" class="sort" on:click=move |_| pages.sort_by(by)>{name}</button>
        </th>
    }
}

/// An item's probabilities, one cell per label; dashes until it is done.
fn result_cells(item: &BatchItem, labels: &[String], thresholds: &Thresholds) -> AnyView {
    match &item.status {
        ItemStatus::Done(p) => labels
            .iter()
            .zip(p)
            .map(|(label, &v)| {
                let finding = thresholds.is_finding(label, v);
                view! {
                    <td class:finding=finding data-label=label.clone() data-value=v.to_string()>
                        {format!("{v:.3}{}", if finding { " ●" } else { "" })}
                    </td>
                }
            })
            .collect_view()
            .into_any(),
        _ => labels.iter().map(|_| view! { <td>"–"</td> }).collect_view().into_any(),
    }
}

/// One image's row: its path (a button that opens it), its status, and
/// its cells (the children).
#[component]
fn BatchRow(actions: Actions, position: usize, index: usize, item: BatchItem, children: Children) -> impl IntoView {
    let state = expect_context::<AppState>();
    let (status, state_name) = status_text(&item, state.batch.has_file(index));
    let path = item.path.clone();
    view! {
        <tr data-testid="batch-row" data-path=item.path.clone() data-state=state_name
            class:warned=state_name == "warned"
            aria-rowindex=(position + 2).to_string()>
            <th scope="row">
                <button type="button" class="link" title="Show this image with its heat maps"
                    on:click=move |_| open(state, actions, index, path.clone())>{item.path.clone()}</button>
            </th>
            <td>{status}</td>
            {children()}
        </tr>
    }
}
