//! The page's state: what the model, the image and the analysis are doing.

use crate::protocol::{LoadStage, ModelInfo};
use chexlens_model::Metadata;
use chexlens_model::cam::CamMap;
use leptos::prelude::*;

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
}

impl ModelStatus {
    pub fn state_name(&self) -> &'static str {
        match self {
            ModelStatus::None => "none",
            ModelStatus::Loading { .. } => "loading",
            ModelStatus::Ready(_) => "ready",
            ModelStatus::Error(_) => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum AnalysisStatus {
    Idle,
    Running,
    Done { probabilities: Vec<f32>, elapsed_ms: f64 },
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

/// The preview's pixels (RGBA at canvas size), which heat maps are drawn over.
#[derive(Debug, Clone, PartialEq)]
pub struct Preview {
    pub width: usize,
    pub height: usize,
    pub rgba: Vec<u8>,
}

/// The image being analysed.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageFile {
    pub name: String,
    pub bytes: Vec<u8>,
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
}

impl AppState {
    pub fn new() -> Self {
        Self {
            model: RwSignal::new(ModelStatus::None),
            analysis: RwSignal::new(AnalysisStatus::Idle),
            image: RwSignal::new(None),
            metadata: RwSignal::new(Metadata::default()),
            threshold: RwSignal::new(chexlens_model::manifest::DEFAULT_THRESHOLD),
            error: RwSignal::new(None),
            pending: RwSignal::new(0),
            preview: RwSignal::new(None),
            heatmaps: RwSignal::new(Vec::new()),
            heatmaps_requested: RwSignal::new(Vec::new()),
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
