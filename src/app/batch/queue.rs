//! The batch's queue: the worker analyses one image at a time, then makes
//! its heat maps (every label's, so that overlays can be exported at any
//! threshold later). Each image's file is read when its turn comes; while
//! the model works on one image, the next is read and sent to the worker
//! to be decoded, so the model never waits for the disk or the decoder.
//! File bytes go from the browser's file reader to the worker as they are,
//! without a copy in the page's memory.

use super::state::{Ahead, BatchState, ItemStatus, Phase, Running, same_model};
use crate::app::{Actions, AppState, ModelStatus, read_bytes};
use crate::protocol::{FIRST_BATCH_ID, ToWorker};
use chexlens_chexpert::metadata::Metadata;
use chexlens_images::cam::CamMap;
use chexlens_images::suitability::Warning;
use js_sys::Uint8Array;
use leptos::prelude::*;

impl BatchState {
    /// Whether a reply with this id is the batch's.
    pub fn owns(&self, id: u32) -> bool {
        id >= FIRST_BATCH_ID
    }

    /// Makes the calling effect run again when the queue moves.
    pub fn track(&self) {
        self.items.track();
        self.running.track();
    }

    /// Whether an image is under way.
    pub fn is_running(&self) -> bool {
        self.running.get().is_some()
    }

    fn new_id(&self) -> u32 {
        let id = self.next_id.get_value();
        self.next_id.set_value(id.wrapping_add(1).max(FIRST_BATCH_ID));
        id
    }

    /// The first item queued with its file (none before the cursor is).
    fn next_queued(&self) -> Option<usize> {
        let mut cursor = self.cursor.get_value();
        let found = self.items.with_untracked(|items| {
            while cursor < items.len() {
                if items[cursor].status == ItemStatus::Queued && self.has_file(cursor) {
                    return Some(cursor);
                }
                cursor += 1;
            }
            None
        });
        self.cursor.set_value(cursor);
        found
    }

    /// The image under way, if it is analysis `id` waiting in `phase`
    /// (a late reply for another is dropped).
    fn awaiting(&self, id: u32, phase: Phase) -> Option<Running> {
        self.running.get_untracked().filter(|r| r.id == id && r.phase == phase)
    }

    /// Moves the queue on: the heat maps of the image just analysed, else
    /// the next queued image. Nothing while the worker is busy with the
    /// batch, nothing is queued, no model is ready, or the model is not the
    /// one the batch's results come from.
    pub fn pump(&self, state: AppState, actions: Actions) {
        let ModelStatus::Ready(info) = state.model.get_untracked() else {
            return;
        };
        if let Some(running) = self.running.get_untracked() {
            if running.phase == Phase::MapsWanted {
                self.running.set(Some(Running {
                    phase: Phase::Mapping,
                    ..running
                }));
                let labels = (0..info.labels.len()).collect();
                // The batch's overlays are the reference's Grad-CAM, whatever
                // the image in view shows.
                let settings = Default::default();
                actions.send(
                    &ToWorker::HeatMaps {
                        id: running.id,
                        labels,
                        settings,
                    },
                    Vec::new(),
                );
            }
            return;
        }
        let Some(index) = self.next_queued() else {
            return;
        };
        match self.model.get_untracked() {
            Some(batch_model) if !same_model(&batch_model, &info) => {
                let message = format!(
                    "This batch's results come from {}; load that model to go on, or clear the batch to start a new one with {}.",
                    batch_model.name, info.name
                );
                if self.blocked.get_untracked().as_ref() != Some(&message) {
                    self.blocked.set(Some(message));
                }
                return;
            }
            Some(_) => {}
            None => self.start_settings(state, &info),
        }
        if self.blocked.get_untracked().is_some() {
            self.blocked.set(None);
        }
        self.items.update(|items| items[index].status = ItemStatus::Running);
        match self.ahead.get_value() {
            Some(Ahead::Sent { index: ahead, id }) if ahead == index => {
                self.ahead.set_value(None);
                self.running.set(Some(Running {
                    index,
                    id,
                    phase: Phase::Analysing,
                }));
                self.send_analyse(actions, index, id, None);
                self.read_ahead(actions);
            }
            Some(Ahead::Reading { index: ahead, id }) if ahead == index => {
                // Its read is under way: it sends the analysis when done.
                self.running.set(Some(Running {
                    index,
                    id,
                    phase: Phase::Reading,
                }));
            }
            _ => {
                let id = self.new_id();
                self.running.set(Some(Running {
                    index,
                    id,
                    phase: Phase::Reading,
                }));
                self.read(actions, index, id);
            }
        }
    }

    fn send_analyse(&self, actions: Actions, index: usize, id: u32, bytes: Option<Uint8Array>) {
        let Some((path, metadata, from_labels)) = self
            .items
            .with_untracked(|items| items.get(index).map(|i| (i.path.clone(), i.metadata, i.from_labels)))
        else {
            return;
        };
        let message = ToWorker::Analyse {
            id,
            // Serial 0 is never an inspected image's: the worker decodes the bytes.
            serial: 0,
            file_name: path,
            metadata,
            file_tags_first: !from_labels,
        };
        actions.send(&message, bytes.into_iter().collect());
    }

    /// Reads item `index`'s file for analysis `id`; what happens with the
    /// bytes is decided when they are there.
    fn read(&self, actions: Actions, index: usize, id: u32) {
        let Some(file) = self.file(index) else { return };
        let batch = *self;
        leptos::task::spawn_local(async move {
            let read = read_bytes(&file).await;
            batch.read_done(actions, index, id, read);
        });
    }

    /// An item's file was read: analysed at once if its turn has come,
    /// else sent to be decoded ahead.
    fn read_done(&self, actions: Actions, index: usize, id: u32, read: Result<Uint8Array, String>) {
        let running = self.awaiting(id, Phase::Reading).filter(|r| r.index == index);
        let ahead = self.ahead.get_value() == Some(Ahead::Reading { index, id });
        match (read, running, ahead) {
            (Ok(bytes), Some(running), _) => {
                if ahead {
                    self.ahead.set_value(None);
                }
                self.running.set(Some(Running {
                    phase: Phase::Analysing,
                    ..running
                }));
                self.send_analyse(actions, index, id, Some(bytes));
                self.read_ahead(actions);
            }
            (Ok(bytes), None, true) => {
                let file_name = self.items.with_untracked(|i| i[index].path.clone());
                actions.send(&ToWorker::Prepare { id, file_name }, vec![bytes]);
                self.ahead.set_value(Some(Ahead::Sent { index, id }));
            }
            (Err(message), Some(_), _) => {
                self.ahead.set_value(None);
                self.finished(id, Err(message));
            }
            // Read ahead and failed: read again (and reported) when its turn comes.
            (Err(_), None, true) => self.ahead.set_value(None),
            _ => {}
        }
    }

    /// Starts reading the item after the one under way.
    fn read_ahead(&self, actions: Actions) {
        if !self.prefetch.get_value() || self.ahead.get_value().is_some() {
            return;
        }
        let Some(index) = self.next_queued() else { return };
        let id = self.new_id();
        self.ahead.set_value(Some(Ahead::Reading { index, id }));
        self.read(actions, index, id);
    }

    /// The worker finished analysis `id` (probabilities and the metadata
    /// it used): record it; its heat maps are asked next.
    pub fn finished(&self, id: u32, result: Result<(Vec<f32>, Metadata, Vec<Warning>), String>) {
        let Some(running) = self
            .awaiting(id, Phase::Analysing)
            .or_else(|| self.awaiting(id, Phase::Reading))
        else {
            return;
        };
        let failed = result.is_err();
        self.items.update(|items| {
            if let Some(item) = items.get_mut(running.index) {
                item.status = match result {
                    Ok((p, metadata, warnings)) => {
                        item.metadata = metadata;
                        item.warnings = warnings;
                        ItemStatus::Done(p)
                    }
                    Err(message) => ItemStatus::Failed(message),
                };
            }
        });
        if failed {
            self.record(running.index, None);
            self.running.set(None);
        } else {
            self.running.set(Some(Running {
                phase: Phase::MapsWanted,
                ..running
            }));
        }
    }

    /// The worker sent (or could not make) analysis `id`'s heat maps; the
    /// probabilities stand either way, and the next image can go. The
    /// item's record, maps and all, goes to the journal.
    pub fn maps_finished(&self, id: u32, maps: Option<Vec<(usize, CamMap)>>) {
        let Some(running) = self.awaiting(id, Phase::Mapping) else {
            return;
        };
        let by_label = maps.map(|mut maps| {
            maps.sort_by_key(|(label, _)| *label);
            maps.into_iter().map(|(_, map)| map).collect()
        });
        self.record(running.index, by_label);
        self.running.set(None);
    }

    /// The worker stopped: the image under way failed with it, and what it
    /// had decoded ahead is gone; the queue goes on once a model is loaded
    /// again.
    pub fn worker_stopped(&self, message: &str) {
        self.ahead.set_value(None);
        if let Some(running) = self.running.get_untracked() {
            self.items.update(|items| {
                if let Some(item) = items.get_mut(running.index)
                    && item.status == ItemStatus::Running
                {
                    item.status = ItemStatus::Failed(message.to_string());
                }
            });
            self.running.set(None);
        }
    }
}
