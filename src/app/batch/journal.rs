//! The batch's results on disk, written as they arrive: closing or
//! reloading the tab loses nothing, and exports read them back a piece at a
//! time instead of holding every heat map in memory.
//!
//! In the origin private file system's `chexlens-batch` folder:
//! `batch.json` (the model and its hashes, thresholds, the form's metadata,
//! the labels CSV's name), `labels.csv` (its text) and the results, one
//! JSON line per image in files of [`SEGMENT_RECORDS`] lines. Only the last
//! file is ever rewritten, so a result costs at most that many lines of
//! writing whatever the batch's size. Where the browser has no such file
//! system the same files are kept in memory, and the page says a reload
//! would lose them.

use crate::opfs;
use crate::protocol::ModelInfo;
use chexlens_checkpoints::manifest::Thresholds;
use chexlens_chexpert::metadata::Metadata;
use chexlens_research::batch_results::{Outcome, Record, parse_lines};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use web_sys::FileSystemDirectoryHandle;

const FOLDER: &str = "chexlens-batch";
const SETTINGS: &str = "batch.json";
const LABELS: &str = "labels.csv";
const SEGMENT_PREFIX: &str = "results-";
/// Lines per results file.
pub const SEGMENT_RECORDS: usize = 32;
/// A bound on one results file read back: 32 lines of 14 maps at the
/// largest CAM resolution chexlens makes are far below it.
const MAX_SEGMENT_BYTES: f64 = 64e6;

/// What a batch was run with, written when it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchSettings {
    /// When it started (ms since 1970).
    pub started_ms: f64,
    /// The model whose numbers these are, with its members' hashes.
    pub model: ModelInfo,
    /// The thresholds in force when it started.
    pub thresholds: Thresholds,
    /// The form's metadata, for images with neither a labels row nor tags.
    pub metadata_defaults: Metadata,
    /// The labels CSV's name; its text is kept beside.
    pub labels: Option<String>,
    /// Images queued in all.
    pub total: usize,
}

/// A batch read back from disk.
pub struct Restored {
    pub settings: BatchSettings,
    pub labels_text: Option<String>,
    /// Its records, without their heat maps (they stay on disk).
    pub records: Vec<Record>,
    /// Lines that could not be read back.
    pub unreadable: usize,
}

enum Store {
    Disk(FileSystemDirectoryHandle),
    /// No origin private file system here: kept for this tab's life.
    Memory(HashMap<String, String>),
}

enum Job {
    Settings(String),
    Labels(String),
    Append(String),
    Clear,
}

struct Inner {
    store: Option<Store>,
    /// The number of the results file being filled, and its lines.
    segment: usize,
    current: Vec<String>,
    pending: VecDeque<Job>,
    writing: bool,
}

/// The journal: writes go out in order, one at a time, in the background.
#[derive(Clone)]
pub struct Journal {
    inner: Rc<RefCell<Inner>>,
    /// Why results are not safe on disk, for the page to show.
    pub warning: RwSignal<Option<String>>,
    /// Records on disk: written, or restored from an earlier visit. A
    /// result shown but not yet written here is what a reload would lose.
    pub saved: RwSignal<usize>,
}

fn segment_name(number: usize) -> String {
    format!("{SEGMENT_PREFIX}{number:08}.jsonl")
}

impl Journal {
    pub fn new() -> Self {
        Self {
            inner: Rc::new(RefCell::new(Inner {
                store: None,
                segment: 0,
                current: Vec::new(),
                pending: VecDeque::new(),
                writing: false,
            })),
            warning: RwSignal::new(None),
            saved: RwSignal::new(0),
        }
    }

    pub fn settings(&self, settings: &BatchSettings) {
        if let Ok(text) = serde_json::to_string(settings) {
            self.push(Job::Settings(text));
        }
    }

    pub fn labels(&self, text: String) {
        self.push(Job::Labels(text));
    }

    pub fn append(&self, record: &Record) {
        self.push(Job::Append(record.to_line()));
    }

    /// Forgets the batch: its files go.
    pub fn clear(&self) {
        self.push(Job::Clear);
    }

    fn push(&self, job: Job) {
        let start = {
            let mut inner = self.inner.borrow_mut();
            inner.pending.push_back(job);
            !std::mem::replace(&mut inner.writing, true)
        };
        if start {
            leptos::task::spawn_local(self.clone().drain());
        }
    }

    async fn drain(self) {
        loop {
            let job = {
                let mut inner = self.inner.borrow_mut();
                match inner.pending.pop_front() {
                    Some(job) => job,
                    None => {
                        inner.writing = false;
                        return;
                    }
                }
            };
            self.open().await;
            let written = match job {
                Job::Settings(text) => self.write(SETTINGS, text).await,
                Job::Labels(text) => self.write(LABELS, text).await,
                Job::Append(line) => {
                    let (name, text) = {
                        let mut inner = self.inner.borrow_mut();
                        if inner.current.len() >= SEGMENT_RECORDS {
                            inner.segment += 1;
                            inner.current.clear();
                        }
                        inner.current.push(line);
                        (segment_name(inner.segment), inner.current.join("\n"))
                    };
                    let written = self.write(&name, text).await;
                    let on_disk = matches!(self.inner.borrow().store, Some(Store::Disk(_)));
                    if written && on_disk {
                        self.saved.update(|n| *n += 1);
                    }
                    written
                }
                Job::Clear => {
                    let on_disk = matches!(self.inner.borrow().store, Some(Store::Disk(_)));
                    if on_disk {
                        opfs::remove_folder(FOLDER).await;
                    }
                    let mut inner = self.inner.borrow_mut();
                    inner.store = None;
                    inner.segment = 0;
                    inner.current.clear();
                    self.saved.set(0);
                    true
                }
            };
            if !written {
                self.warning.set(Some(
                    "results could not be written to this browser's storage (is the disk full?): a reload would lose them; export them before closing the tab".into(),
                ));
            }
        }
    }

    /// Opens the folder once: on disk where the browser can, else in memory.
    async fn open(&self) {
        if self.inner.borrow().store.is_some() {
            return;
        }
        let store = match opfs::folder(FOLDER).await {
            Some(folder) => Store::Disk(folder),
            None => {
                self.warning.set(Some(
                    "this browser cannot keep results on disk: a reload would lose them; export them before closing the tab".into(),
                ));
                Store::Memory(HashMap::new())
            }
        };
        self.inner.borrow_mut().store = Some(store);
    }

    async fn write(&self, name: &str, text: String) -> bool {
        let folder = match &mut self.inner.borrow_mut().store {
            Some(Store::Disk(folder)) => folder.clone(),
            Some(Store::Memory(files)) => {
                files.insert(name.to_owned(), text);
                return true;
            }
            None => return false,
        };
        opfs::write_text(&folder, name, &text).await
    }

    async fn read(&self, name: &str) -> Option<String> {
        let folder = match &self.inner.borrow().store {
            Some(Store::Disk(folder)) => folder.clone(),
            Some(Store::Memory(files)) => return files.get(name).cloned(),
            None => return None,
        };
        let file = opfs::open(&folder, name).await?;
        if file.size() > MAX_SEGMENT_BYTES {
            return None;
        }
        opfs::wait(file.text()).await?.as_string()
    }

    /// Waits until every write asked for so far is done.
    pub async fn flushed(&self) {
        while self.inner.borrow().writing {
            super::super::sleep(20).await;
        }
    }

    /// How many results files there are (the last may be filling).
    pub fn segments(&self) -> usize {
        let inner = self.inner.borrow();
        if inner.current.is_empty() {
            inner.segment
        } else {
            inner.segment + 1
        }
    }

    /// The records of results file `number` for a model of `labels`
    /// labels, heat maps and all, in the order they were written; lines
    /// that cannot be read back are counted.
    pub async fn segment(&self, number: usize, labels: usize) -> (Vec<Record>, usize) {
        match self.read(&segment_name(number)).await {
            Some(text) => parse_lines(&text, labels),
            None => (Vec::new(), 1),
        }
    }

    /// The batch a closed or reloaded tab left, if any; from now on this
    /// journal goes on writing it.
    pub async fn restore(&self) -> Option<Restored> {
        self.open().await;
        let folder = match &self.inner.borrow().store {
            Some(Store::Disk(folder)) => folder.clone(),
            _ => return None,
        };
        let settings: BatchSettings = serde_json::from_str(&self.read(SETTINGS).await?).ok()?;
        let labels_text = match settings.labels {
            Some(_) => self.read(LABELS).await,
            None => None,
        };
        let mut numbers: Vec<usize> = opfs::names(&folder)
            .await
            .iter()
            .filter_map(|n| n.strip_prefix(SEGMENT_PREFIX)?.strip_suffix(".jsonl")?.parse().ok())
            .collect();
        numbers.sort_unstable();
        let mut records = Vec::new();
        let mut unreadable = 0;
        let mut last = Vec::new();
        let labels = settings.model.labels.len();
        for &number in &numbers {
            let text = self.read(&segment_name(number)).await.unwrap_or_default();
            let (read, damaged) = parse_lines(&text, labels);
            unreadable += damaged;
            records.extend(read.into_iter().map(|mut record| {
                // The maps stay on disk until an export reads them.
                if let Outcome::Done { maps, .. } = &mut record.outcome {
                    *maps = None;
                }
                record
            }));
            last = text.lines().map(str::to_owned).collect();
        }
        self.saved.set(records.len());
        let mut inner = self.inner.borrow_mut();
        inner.segment = numbers.last().copied().unwrap_or(0);
        inner.current = last;
        Some(Restored {
            settings,
            labels_text,
            records,
            unreadable,
        })
    }
}
