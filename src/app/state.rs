//! The page's state: what the model, the image and the analysis are doing.

use crate::protocol::{LoadStage, ModelInfo, TooLarge};
use chexlens_chexpert::metadata::Metadata;
use chexlens_chexpert::metadata::MetadataChange;
use chexlens_images::cam::{CamMap, CamSettings};
use chexlens_images::faithfulness::Faithfulness;
use chexlens_images::input::DicomDetails;
use chexlens_images::levels::{GreyLevels, PreviewLevels};
use chexlens_images::suitability::Warning;
use chexlens_reference::statistics::Typicality;
use leptos::prelude::*;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq)]
pub enum ModelStatus {
    None,
    Loading {
        stage: LoadStage,
        done: u64,
        total: Option<u64>,
        file: String,
    },
    Ready(ModelInfo),
    Error(String),
    /// Refused for memory, with an offer to load less.
    TooLarge(TooLarge),
}

impl ModelStatus {
    pub fn state_name(&self) -> &'static str {
        match self {
            ModelStatus::None => "none",
            ModelStatus::Loading { .. } => "loading",
            ModelStatus::Ready(_) => "ready",
            ModelStatus::Error(_) => "error",
            ModelStatus::TooLarge(_) => "too-large",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum AnalysisStatus {
    Idle,
    Running,
    Done {
        probabilities: Vec<f32>,
        /// Each member's own (`members x labels`).
        member_probabilities: Vec<Vec<f32>>,
        /// The metadata the analysis used.
        metadata: Metadata,
        elapsed_ms: f64,
        /// Why the image may not be a chest radiograph (its findings are
        /// withheld until the user asks for them).
        warnings: Vec<Warning>,
        /// The distance to the model's reference radiographs, where it has them.
        typicality: Option<Typicality>,
    },
    Error(String),
}

impl AnalysisStatus {
    pub fn state_name(&self) -> &'static str {
        match self {
            AnalysisStatus::Idle => "idle",
            AnalysisStatus::Running => "running",
            AnalysisStatus::Done { .. } => "done",
            AnalysisStatus::Error(_) => "error",
        }
    }
}

/// How much the probabilities move when the metadata changes.
#[derive(Debug, Clone, PartialEq)]
pub enum Sensitivity {
    NotAsked,
    Running,
    Done {
        changes: Vec<(MetadataChange, Vec<f32>)>,
        elapsed_ms: f64,
    },
    Failed(String),
}

/// A heat map's faithfulness measures, once asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum FaithfulnessStatus {
    Running { done: usize, total: usize },
    Done(Faithfulness),
    Failed(String),
}

/// The preview's pixels (RGBA at canvas size), which heat maps are drawn over.
#[derive(Debug, Clone, PartialEq)]
pub struct Preview {
    pub width: usize,
    pub height: usize,
    pub rgba: Vec<u8>,
    /// The image's own width, which the preview scales down (for 1:1 zoom).
    pub source_width: usize,
    /// A grey image's values at full depth (DICOM, grey PNG and JPEG).
    pub levels: Option<Levels>,
}

/// A grey image's stored values at full size, and their modality values
/// at preview size with the windows on offer: what window/level and the
/// pixel probe read. Shared, not copied, between signals.
#[derive(Debug, Clone)]
pub struct Levels {
    pub full: Arc<GreyLevels>,
    pub preview: Arc<PreviewLevels>,
}

impl Levels {
    pub fn new(full: GreyLevels, preview_width: usize, preview_height: usize) -> Self {
        let preview = full.preview(preview_width, preview_height);
        Self {
            full: Arc::new(full),
            preview: Arc::new(preview),
        }
    }
}

impl PartialEq for Levels {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.full, &other.full)
    }
}

/// The image being analysed.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageFile {
    pub name: String,
    pub bytes: Vec<u8>,
    /// Numbers the page's images, so that the worker's replies match them.
    pub serial: u32,
    /// A DICOM's 8-bit grey preview, decoded by the worker (browsers cannot
    /// draw DICOM themselves).
    pub grey_preview: Option<GreyPreview>,
    /// The frame (from 0) of a multi-frame DICOM shown and analysed.
    pub frame: u32,
}

/// An image the worker decoded (DICOM, grey PNG or JPEG), as the page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct GreyPreview {
    pub width: usize,
    pub height: usize,
    pub grey: Vec<u8>,
    /// The image's own width.
    pub source_width: usize,
    pub levels: Option<Levels>,
}

/// Which metadata fields hold a DICOM file's values (until the user edits them).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FromFile {
    pub sex: bool,
    pub age: bool,
    pub view: bool,
    pub projection: bool,
}

/// Signals shared by the components (provided as context).
#[derive(Clone, Copy)]
pub struct AppState {
    pub model: RwSignal<ModelStatus>,
    pub analysis: RwSignal<AnalysisStatus>,
    pub image: RwSignal<Option<ImageFile>>,
    pub metadata: RwSignal<Metadata>,
    /// Threshold for every label without its own; starts at the manifest's.
    pub threshold: RwSignal<f32>,
    /// The latest problem to show the user, if any.
    pub error: RwSignal<Option<String>>,
    /// Id of the analysis whose result the page waits for.
    pub pending: RwSignal<u32>,
    pub preview: RwSignal<Option<Preview>>,
    /// Heat maps of the current analysis, by label index.
    pub heatmaps: RwSignal<Vec<(usize, CamMap)>>,
    /// Label indices whose heat maps were asked for (done or under way).
    pub heatmaps_requested: RwSignal<Vec<usize>>,
    /// Each member's map, by label index, for the labels asked for.
    pub member_heatmaps: RwSignal<Vec<(usize, Vec<CamMap>)>>,
    /// The heat maps' method and layer: the maps above are all of these.
    pub cam_settings: RwSignal<CamSettings>,
    /// The faithfulness of the ensemble's maps, by label index, as asked for.
    pub faithfulness: RwSignal<Vec<(usize, FaithfulnessStatus)>>,
    /// The current analysis' metadata sensitivity, once asked for.
    pub sensitivity: RwSignal<Sensitivity>,
    /// The current image's DICOM summary, tags and notices.
    pub dicom: RwSignal<Option<DicomDetails>>,
    pub from_file: RwSignal<FromFile>,
    /// A DICOM the worker is decoding; it becomes `image` when its tags are in.
    pub inspecting: RwSignal<Option<ImageFile>>,
    /// The serial of the latest file the user opened.
    pub last_serial: RwSignal<u32>,
    /// The label (by index) selected in the findings: its heat map lies over
    /// the image in the viewer.
    pub selected_label: RwSignal<Option<usize>>,
    /// The image (by serial) whose findings the user chose to see despite
    /// its warnings.
    pub shown_anyway: RwSignal<Option<u32>>,
    /// Many images at once.
    pub batch: super::batch::BatchState,
}

impl AppState {
    pub fn new() -> Self {
        Self {
            model: RwSignal::new(ModelStatus::None),
            analysis: RwSignal::new(AnalysisStatus::Idle),
            image: RwSignal::new(None),
            metadata: RwSignal::new(Metadata::default()),
            threshold: RwSignal::new(chexlens_checkpoints::manifest::DEFAULT_THRESHOLD),
            error: RwSignal::new(None),
            pending: RwSignal::new(0),
            preview: RwSignal::new(None),
            heatmaps: RwSignal::new(Vec::new()),
            heatmaps_requested: RwSignal::new(Vec::new()),
            sensitivity: RwSignal::new(Sensitivity::NotAsked),
            member_heatmaps: RwSignal::new(Vec::new()),
            cam_settings: RwSignal::new(CamSettings::default()),
            faithfulness: RwSignal::new(Vec::new()),
            dicom: RwSignal::new(None),
            from_file: RwSignal::new(FromFile::default()),
            inspecting: RwSignal::new(None),
            last_serial: RwSignal::new(0),
            shown_anyway: RwSignal::new(None),
            selected_label: RwSignal::new(None),
            batch: super::batch::BatchState::new(),
        }
    }

    /// Whether the analysis has warnings and its findings are withheld:
    /// until the user chooses to see them, for this image.
    pub fn withheld(&self) -> bool {
        let warned = self
            .analysis
            .with(|a| matches!(a, AnalysisStatus::Done { warnings, .. } if !warnings.is_empty()));
        let serial = self.image.with(|i| i.as_ref().map(|i| i.serial));
        warned && (serial.is_none() || self.shown_anyway.get() != serial)
    }

    /// The current metadata with the previous file's values back at the
    /// model's defaults: one patient's tags must not carry over to the next.
    pub fn metadata_without_file_values(&self) -> chexlens_chexpert::metadata::Metadata {
        let defaults = self
            .model_info_untracked()
            .map_or_else(chexlens_chexpert::metadata::Metadata::default, |i| i.metadata_defaults);
        let from = self.from_file.get_untracked();
        let mut m = self.metadata.get_untracked();
        if from.sex {
            m.sex = defaults.sex;
        }
        if from.age {
            m.age = defaults.age;
        }
        if from.view {
            m.view = defaults.view;
        }
        if from.projection {
            m.projection = defaults.projection;
        }
        m
    }

    /// The worker decoded an image: a DICOM's tags fill the form (another
    /// file's leave it at the defaults), then it is analysed.
    pub fn inspected(&self, serial: u32, preview: GreyPreview, dicom: Option<chexlens_images::input::DicomDetails>) {
        let Some(mut file) = self.inspecting.get_untracked().filter(|f| f.serial == serial) else {
            return;
        };
        self.inspecting.set(None);
        file.grey_preview = Some(preview);
        let Some(dicom) = dicom else {
            self.dicom.set(None);
            self.metadata.set(self.metadata_without_file_values());
            self.from_file.set(FromFile::default());
            self.image.set(Some(file));
            return;
        };
        let tags = &dicom.tags;
        // Another frame of the image in view keeps the form as the user left it.
        let same_file = self
            .image
            .with_untracked(|i| i.as_ref().is_some_and(|i| i.bytes == file.bytes));
        if !same_file {
            self.metadata.set(tags.apply_to(self.metadata_without_file_values()));
        }
        self.from_file.set(FromFile {
            sex: tags.sex.is_some(),
            age: tags.age.is_some(),
            view: tags.view.is_some(),
            projection: tags.projection.is_some(),
        });
        self.dicom.set(Some(dicom));
        self.image.set(Some(file));
    }

    pub fn model_info_untracked(&self) -> Option<ModelInfo> {
        match self.model.get_untracked() {
            ModelStatus::Ready(info) => Some(info),
            _ => None,
        }
    }

    pub fn model_info(&self) -> Option<ModelInfo> {
        match self.model.get() {
            ModelStatus::Ready(info) => Some(info),
            _ => None,
        }
    }
}

impl Default for AppState {
    fn default() -> Self {
        Self::new()
    }
}
