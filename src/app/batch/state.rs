//! The batch's state: its items (a path, the metadata used and the
//! outcome; small, whatever the image), each item's `File` (a disk-backed
//! handle, read only when its turn comes or it is opened), the labels CSV,
//! and the journal that keeps results on disk as they arrive.

use super::journal::{BatchSettings, Journal};
use super::labels::{Labelled, csv_metadata};
use crate::app::AppState;
use crate::protocol::{FIRST_BATCH_ID, ModelInfo};
use chexlens_chexpert::metadata::Metadata;
use chexlens_images::suitability::Warning;
use chexlens_research::batch_results::{Outcome, Record};
use chexlens_research::evaluation::UncertainPolicy;
use chexlens_research::labelled::LabelledSet;
use leptos::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use web_sys::File;

/// A cancelled item's failure: picking its file again queues it again.
pub const CANCELLED: &str = "cancelled";

/// Where the queue's image under way is (`queue.rs` moves it on).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    /// Its file is being read.
    Reading,
    Analysing,
    MapsWanted,
    Mapping,
}

/// The item the worker is working on, and the analysis id it goes by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Running {
    pub index: usize,
    pub id: u32,
    pub phase: Phase,
}

/// The next item, read ahead under the analysis id it will have.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ahead {
    Reading {
        index: usize,
        id: u32,
    },
    /// Its bytes went to the worker, which decodes them.
    Sent {
        index: usize,
        id: u32,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum ItemStatus {
    Queued,
    Running,
    Done(Vec<f32>),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct BatchItem {
    /// The file's path within a picked folder, else its name.
    pub path: String,
    pub size: u64,
    /// What it is analysed with: its labels-CSV row's, else the form's (a
    /// DICOM's own tags then go first); once done, what the worker used.
    pub metadata: Metadata,
    /// Whether a labels-CSV row gave the metadata.
    pub from_labels: bool,
    /// Why the image may not be a chest radiograph (none for most).
    pub warnings: Vec<Warning>,
    pub status: ItemStatus,
}

/// How the table is sorted: by image path, or by a label's probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SortBy {
    Image,
    Label(usize),
}

/// A batch a closed or reloaded tab left, as restored.
#[derive(Debug, Clone, PartialEq)]
pub struct Resumed {
    pub started_ms: f64,
    pub total: usize,
    pub finished: usize,
    pub model: String,
    /// Results that could not be read back.
    pub unreadable: usize,
}

/// The batch's signals (part of [`AppState`]).
#[derive(Clone, Copy)]
pub struct BatchState {
    pub items: RwSignal<Vec<BatchItem>>,
    /// Each item's file, by index; `None` for a restored item whose file
    /// has not been picked again.
    pub(super) files: StoredValue<Vec<Option<File>>, LocalStorage>,
    /// Items by path and size: a file picked again is known.
    by_file: StoredValue<HashMap<(String, u64), usize>>,
    /// No item before this index is queued with its file.
    pub(super) cursor: StoredValue<usize>,
    pub(super) running: RwSignal<Option<Running>>,
    pub(super) ahead: StoredValue<Option<Ahead>>,
    pub(super) next_id: StoredValue<u32>,
    /// Whether the next image is read and decoded during the current one's
    /// analysis (`?prefetch=0` turns it off, to measure what it gains).
    pub(super) prefetch: StoredValue<bool>,
    /// The model the batch's results come from, once one has started.
    pub model: RwSignal<Option<ModelInfo>>,
    pub(super) settings: StoredValue<Option<BatchSettings>>,
    pub labels: RwSignal<Option<Arc<Labelled>>>,
    pub policy: RwSignal<UncertainPolicy>,
    pub sort: RwSignal<(SortBy, bool)>,
    pub(super) journal: StoredValue<Journal, LocalStorage>,
    /// What the last pick did besides queueing.
    pub notice: RwSignal<Option<String>>,
    /// Why the queue waits (another model is loaded than the batch's).
    pub blocked: RwSignal<Option<String>>,
    pub resumed: RwSignal<Option<Resumed>>,
}

/// Whether two loads are the same model: results from one can be joined
/// with the other's.
pub fn same_model(a: &ModelInfo, b: &ModelInfo) -> bool {
    a.name == b.name && a.members == b.members && a.member_sha256 == b.member_sha256 && a.labels == b.labels
}

/// What the batch's images are analysed with, read once per pick: a
/// labels-CSV row's metadata over the model's defaults, else the form's own
/// values (an image in view's DICOM tags are not the batch's).
#[derive(Clone, Copy)]
struct MetadataDefaults {
    form: Metadata,
    model: Metadata,
}

impl MetadataDefaults {
    fn of(state: AppState) -> Self {
        let form = state.metadata_without_file_values();
        let model = state.model_info_untracked().map_or(form, |i| i.metadata_defaults);
        Self { form, model }
    }

    /// An image's metadata, and whether a labels row gave it.
    fn for_path(self, labels: Option<&Labelled>, path: &str) -> (Metadata, bool) {
        match labels.and_then(|l| l.row_for(path)) {
            Some(row) => (csv_metadata(row, self.model), true),
            None => (self.form, false),
        }
    }
}

impl Default for BatchState {
    fn default() -> Self {
        Self::new()
    }
}

impl BatchState {
    pub fn new() -> Self {
        Self {
            items: RwSignal::new(Vec::new()),
            files: StoredValue::new_local(Vec::new()),
            by_file: StoredValue::new(HashMap::new()),
            cursor: StoredValue::new(0),
            running: RwSignal::new(None),
            ahead: StoredValue::new(None),
            next_id: StoredValue::new(FIRST_BATCH_ID),
            prefetch: StoredValue::new(true),
            model: RwSignal::new(None),
            settings: StoredValue::new(None),
            labels: RwSignal::new(None),
            policy: RwSignal::new(UncertainPolicy::Ignore),
            sort: RwSignal::new((SortBy::Image, false)),
            journal: StoredValue::new_local(Journal::new()),
            notice: RwSignal::new(None),
            blocked: RwSignal::new(None),
            resumed: RwSignal::new(None),
        }
    }

    /// Whether the next image is read and decoded ahead (on by default).
    pub fn set_prefetch(&self, on: bool) {
        self.prefetch.set_value(on);
    }

    /// Why results are not safe on disk, if they are not.
    pub fn journal_warning(&self) -> Option<String> {
        self.journal.with_value(|j| j.warning.get())
    }

    /// How many results are on disk, safe from a reload.
    pub fn saved(&self) -> usize {
        self.journal.with_value(|j| j.saved.get())
    }

    pub fn journal(&self) -> Journal {
        self.journal.get_value()
    }

    /// An item's file, where it has one.
    pub fn file(&self, index: usize) -> Option<File> {
        self.files.with_value(|f| f.get(index).cloned().flatten())
    }

    /// The item with this path and size.
    pub fn index_of(&self, path: &str, size: u64) -> Option<usize> {
        self.by_file.with_value(|m| m.get(&(path.to_owned(), size)).copied())
    }

    /// Whether item `index` has its file (a restored one may not).
    pub fn has_file(&self, index: usize) -> bool {
        self.files.with_value(|f| f.get(index).is_some_and(Option::is_some))
    }

    /// Records a finished item in the journal.
    pub(super) fn record(&self, index: usize, maps: Option<Vec<chexlens_images::cam::CamMap>>) {
        let record = self.items.with_untracked(|items| {
            let item = items.get(index)?;
            let outcome = match &item.status {
                ItemStatus::Done(p) => Outcome::Done {
                    probabilities: p.clone(),
                    maps,
                },
                ItemStatus::Failed(e) if e != CANCELLED => Outcome::Failed { error: e.clone() },
                _ => return None,
            };
            Some(Record {
                path: item.path.clone(),
                size: item.size,
                metadata: item.metadata,
                from_labels: item.from_labels,
                warnings: item.warnings.clone(),
                outcome,
            })
        });
        if let Some(record) = record {
            self.journal.with_value(|j| j.append(&record));
        }
    }

    /// The batch's settings, written when its first image starts.
    pub(super) fn start_settings(&self, state: AppState, info: &ModelInfo) {
        let settings = BatchSettings {
            started_ms: js_sys::Date::now(),
            model: info.clone(),
            thresholds: info.thresholds.with_default(state.threshold.get_untracked()),
            metadata_defaults: state.metadata_without_file_values(),
            labels: self.labels.with_untracked(|l| l.as_ref().map(|l| l.name.clone())),
            total: self.items.with_untracked(Vec::len),
        };
        self.model.set(Some(info.clone()));
        self.journal.with_value(|j| {
            j.settings(&settings);
            if let Some(labels) = self.labels.get_untracked() {
                j.labels(labels.text.clone());
            }
        });
        self.settings.set_value(Some(settings));
    }

    /// Keeps the journal's count of queued images current.
    fn update_total(&self) {
        let total = self.items.with_untracked(Vec::len);
        let settings = self.settings.with_value(|s| {
            s.clone().map(|mut s| {
                s.total = total;
                s
            })
        });
        if let Some(settings) = settings {
            self.journal.with_value(|j| j.settings(&settings));
            self.settings.set_value(Some(settings));
        }
    }

    /// Queues files, with the labels CSV's metadata where it has a row. A
    /// file the batch has already (same path and size) is not queued again:
    /// it is attached to its item, which is what resuming a batch is.
    pub fn add(&self, state: AppState, picked: Vec<(String, File)>) {
        let labels = self.labels.get_untracked();
        let defaults = MetadataDefaults::of(state);
        let first_new = self.items.with_untracked(Vec::len);
        let mut new_items = Vec::new();
        let (mut known, mut requeued, mut too_large) = (0, Vec::new(), Vec::new());
        for (path, file) in picked {
            let size = file.size() as u64;
            if size > chexlens_images::image::MAX_FILE_BYTES {
                too_large.push(format!(
                    "{path}: {}",
                    chexlens_images::input::ImageError::FileTooLarge(size)
                ));
                continue;
            }
            let key = (path, size);
            if let Some(index) = self.by_file.with_value(|m| m.get(&key).copied()) {
                self.files.update_value(|f| f[index] = Some(file));
                known += 1;
                requeued.push(index);
                continue;
            }
            let (path, size) = key;
            let (metadata, from_labels) = defaults.for_path(labels.as_deref(), &path);
            self.by_file
                .update_value(|m| _ = m.insert((path.clone(), size), first_new + new_items.len()));
            self.files.update_value(|f| f.push(Some(file)));
            new_items.push(BatchItem {
                path,
                size,
                metadata,
                from_labels,
                warnings: Vec::new(),
                status: ItemStatus::Queued,
            });
        }
        let added = new_items.len();
        let mut already_done = 0;
        self.items.update(|items| {
            items.extend(new_items);
            for &index in &requeued {
                match &items[index].status {
                    ItemStatus::Failed(e) if e == CANCELLED => items[index].status = ItemStatus::Queued,
                    ItemStatus::Done(_) | ItemStatus::Failed(_) => already_done += 1,
                    _ => {}
                }
            }
        });
        if let Some(&first) = requeued.iter().min() {
            self.cursor.update_value(|c| *c = (*c).min(first));
        }
        if known > 0 {
            self.resumed.set(None);
        }
        self.notice.set((already_done > 0).then(|| {
            format!("{already_done} of the files picked were analysed already (same name and size) and were not queued again.")
        }));
        if !too_large.is_empty() {
            let more = if too_large.len() > 1 {
                format!(" (and {} more)", too_large.len() - 1)
            } else {
                String::new()
            };
            state.error.set(Some(format!("{}{more}", too_large[0])));
        }
        if added > 0 {
            self.update_total();
        }
    }

    /// Stops after the image under way; what is queued is marked cancelled
    /// (picking the files again queues them again).
    pub fn cancel(&self) {
        self.ahead.set_value(None);
        self.items.update(|items| {
            for item in items.iter_mut().filter(|i| i.status == ItemStatus::Queued) {
                item.status = ItemStatus::Failed(CANCELLED.into());
            }
        });
    }

    /// Forgets the batch, on disk too.
    pub fn clear(&self) {
        if self.running.get_untracked().is_some() {
            return;
        }
        self.items.set(Vec::new());
        self.files.set_value(Vec::new());
        self.by_file.set_value(HashMap::new());
        self.notice.set(None);
        self.blocked.set(None);
        self.forget_results(self.labels.get_untracked());
    }

    /// Forgets every result, on disk too (the labels CSV stays, if any):
    /// the queue starts again from the first item.
    fn forget_results(&self, labels: Option<Arc<Labelled>>) {
        self.cursor.set_value(0);
        self.ahead.set_value(None);
        self.model.set(None);
        self.settings.set_value(None);
        self.resumed.set(None);
        self.journal.with_value(|j| {
            j.clear();
            if let Some(labels) = labels {
                j.labels(labels.text.clone());
            }
        });
    }

    /// A new labels CSV gives every image its row's metadata: all run again
    /// (restored items once their files are picked again).
    pub fn set_labels(&self, state: AppState, labelled: Labelled) {
        let labelled = Arc::new(labelled);
        self.labels.set(Some(labelled.clone()));
        let empty = self.items.with_untracked(Vec::is_empty);
        if self.running.get_untracked().is_some() || empty {
            self.journal.with_value(|j| j.labels(labelled.text.clone()));
            return;
        }
        let defaults = MetadataDefaults::of(state);
        self.items.update(|items| {
            for item in items.iter_mut() {
                (item.metadata, item.from_labels) = defaults.for_path(Some(&labelled), &item.path);
                item.status = ItemStatus::Queued;
            }
        });
        self.forget_results(Some(labelled));
    }

    /// Restores the batch a closed or reloaded tab left, if any (and if
    /// none has been started since the page opened).
    pub fn restore(self) {
        leptos::task::spawn_local(async move {
            let journal = self.journal();
            let Some(restored) = journal.restore().await else {
                return;
            };
            if !self.items.with_untracked(Vec::is_empty) {
                return;
            }
            let settings = restored.settings;
            let mut by_file = HashMap::new();
            let items: Vec<BatchItem> = restored
                .records
                .into_iter()
                .enumerate()
                .map(|(index, r)| {
                    by_file.insert((r.path.clone(), r.size), index);
                    BatchItem {
                        path: r.path,
                        size: r.size,
                        metadata: r.metadata,
                        from_labels: r.from_labels,
                        warnings: r.warnings,
                        status: match r.outcome {
                            Outcome::Done { probabilities, .. } => ItemStatus::Done(probabilities),
                            Outcome::Failed { error } => ItemStatus::Failed(error),
                        },
                    }
                })
                .collect();
            if let (Some(name), Some(text)) = (settings.labels.clone(), restored.labels_text)
                && let Ok(set) = LabelledSet::parse(text.as_bytes(), &settings.model.labels)
            {
                self.labels.set(Some(Arc::new(Labelled::new(name, text, set))));
            }
            self.resumed.set(Some(Resumed {
                started_ms: settings.started_ms,
                total: settings.total.max(items.len()),
                finished: items.len(),
                model: settings.model.name.clone(),
                unreadable: restored.unreadable,
            }));
            self.files.set_value(vec![None; items.len()]);
            self.by_file.set_value(by_file);
            self.cursor.set_value(items.len());
            self.model.set(Some(settings.model.clone()));
            self.settings.set_value(Some(settings));
            self.items.set(items);
        });
    }
}
