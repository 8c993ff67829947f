//! Messages between the page and the model worker. Each message travels as
//! `{ json: string, bytes: Uint8Array[] }`: the JSON below plus any file
//! contents, whose buffers are transferred rather than copied.

use chexlens_checkpoints::manifest::Thresholds;
use chexlens_chexpert::metadata::{Metadata, MetadataChange};
use chexlens_images::cam::{CamMap, CamSettings};
use chexlens_images::faithfulness::Faithfulness;
use chexlens_images::input::DicomDetails;
use chexlens_images::levels::LevelsInfo;
use chexlens_images::preprocess::InputConfig;
use chexlens_images::suitability::Warning;
use chexlens_reference::statistics::Typicality;
use serde::{Deserialize, Serialize};

/// Previews (the page's canvas, and a DICOM's grey preview made by the
/// worker) fit in a square of this side: the viewer shows the image up to
/// a screen's height from them.
pub const PREVIEW_SIZE: usize = 1024;
/// The batch's overlay exports fit in a square of this side (small files,
/// thousands of them).
pub const EXPORT_OVERLAY_SIZE: usize = 512;

/// The preview size of a `width` x `height` image: scaled down to fit the
/// square, never up, at least one pixel each way.
pub fn preview_dimensions(width: usize, height: usize) -> (usize, usize) {
    chexlens_images::cam::fit_within(width, height, PREVIEW_SIZE)
}

/// Analyses numbered from here are the page's batch: the worker keeps
/// their passes apart from the image in view's (see the worker's `passes`).
pub const FIRST_BATCH_ID: u32 = 1 << 31;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Webgpu,
    Cpu,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Webgpu => "webgpu",
            Backend::Cpu => "cpu",
        }
    }
}

/// Which backend the page asked for (`?backend=`); `None` picks WebGPU when offered.
pub type BackendRequest = Option<Backend>;

/// A size as the page shows it.
pub fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Where a model comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ModelSource {
    /// The built-in demo, deployed with the page.
    Demo,
    /// A manifest at a URL (relative to the page or absolute); members are
    /// fetched relative to it.
    ManifestUrl(String),
    /// Files the user picked or dropped: their names, in the order of the
    /// message's byte buffers. A `.json` among them is the manifest.
    LocalFiles(Vec<String>),
    /// A Hugging Face Hub repository (`OWNER/NAME[@REVISION]`) at an
    /// endpoint. The token is used for this load only and kept nowhere.
    Hub {
        endpoint: String,
        repo: String,
        token: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToWorker {
    LoadModel {
        source: ModelSource,
        backend: BackendRequest,
        /// The most workers the CPU backend may spread the members over
        /// (`?workers=`); `None`: one per member where the browser reports
        /// several cores.
        workers: Option<usize>,
        /// Load only the ensemble's first members (an offer after
        /// [`FromWorker::ModelTooLarge`]); `None` loads them all.
        members: Option<usize>,
        /// `navigator.deviceMemory` as the page reads it (GB), where reported.
        memory_gb: Option<f64>,
    },
    /// Stops the model load in progress.
    CancelLoad,
    /// Decode the DICOM or grey PNG/JPEG file in the message's first byte
    /// buffer: its preview, full-depth values and (DICOM) tags come back
    /// before analysis, so that the tags can fill the metadata the analysis
    /// uses. `serial` numbers the page's images.
    Inspect {
        serial: u32,
        file_name: String,
        /// The frame (from 0) of a multi-frame file to show and analyse.
        frame: u32,
    },
    /// Decode the file in the message's first byte buffer now, for the
    /// batch's analysis `id` to come: the batch reads and decodes its next
    /// image while the model works on the one before. Only the last is kept.
    Prepare { id: u32, file_name: String },
    /// Analyse the image in the message's first byte buffer (image `serial`;
    /// an inspected DICOM is not decoded again; without a buffer, the image
    /// prepared for `id`).
    Analyse {
        id: u32,
        serial: u32,
        file_name: String,
        metadata: Metadata,
        /// A DICOM's own sex, age and view replace `metadata`'s (the batch's
        /// images without a labels-CSV row; the image in view's tags are in
        /// its form already).
        file_tags_first: bool,
    },
    /// Heat maps of analysis `id` for these label indices, by `settings`'
    /// method and layer.
    HeatMaps {
        id: u32,
        labels: Vec<usize>,
        settings: CamSettings,
    },
    /// Each member's own map of analysis `id` for one label.
    MemberHeatMaps {
        id: u32,
        label: usize,
        settings: CamSettings,
    },
    /// How faithful the ensemble's map of `label` (by `settings`) is to the
    /// ensemble, with `metadata`: nine more passes, each reported.
    Faithfulness {
        id: u32,
        label: usize,
        settings: CamSettings,
        metadata: Metadata,
    },
    /// Analysis `id`'s probabilities with each of the metadata changes
    /// `sensitivity_changes` makes to `metadata` (the analysis' own).
    Sensitivity { id: u32, metadata: Metadata },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadStage {
    Download,
    /// Reading a file kept for offline use.
    Cached,
    /// Reading a picked file.
    Read,
    Prepare,
}

impl LoadStage {
    pub fn label(self) -> &'static str {
        match self {
            LoadStage::Download => "Downloading",
            LoadStage::Cached => "Reading from the offline copy",
            LoadStage::Read => "Reading weights",
            LoadStage::Prepare => "Preparing model",
        }
    }
}

/// What the page needs to know about a loaded model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    pub demo: bool,
    pub members: usize,
    /// The workers the members run in, side by side (1 on WebGPU).
    pub workers: usize,
    /// Threads each worker's analysis runs on: the pool of the threaded
    /// worker (a cross-origin isolated page on the CPU backend), else 1.
    pub threads: usize,
    pub backend: Backend,
    pub labels: Vec<String>,
    pub thresholds: Thresholds,
    pub metadata_defaults: Metadata,
    /// Kept in the browser for offline use (models loaded from an address).
    pub offline: bool,
    /// How images are prepared for this model.
    pub input: InputConfig,
    /// Each member's sha256, where its manifest gives one.
    pub member_sha256: Vec<Option<String>>,
    /// Members in the whole ensemble, when fewer were loaded (`members`).
    pub of_members: Option<usize>,
    /// The reference statistics the model came with; `None`: images are
    /// checked by their files only.
    pub reference: Option<ReferenceSummary>,
}

/// What the page says of a model's reference statistics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReferenceSummary {
    /// Radiographs they were computed on.
    pub images: usize,
    /// The percentile of those radiographs' own distances beyond which an image is warned.
    pub percentile: f64,
}

/// A model refused because it would not fit in memory, with what can be
/// offered instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TooLarge {
    pub message: String,
    /// Members in the ensemble.
    pub members: usize,
    /// How many of them fit the memory reported, where that is known.
    pub fitting: Option<usize>,
    /// Whether loading them all in one worker is offered.
    pub one_worker: bool,
}

impl TooLarge {
    /// The smaller ensemble to offer: what fits, else one member fewer.
    pub fn fewer_members(&self) -> Option<usize> {
        let fewer = self.fitting.unwrap_or(self.members.saturating_sub(1));
        (1..self.members).contains(&fewer).then_some(fewer)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FromWorker {
    /// The worker listens: messages sent before this would be lost.
    Ready,
    Progress {
        stage: LoadStage,
        done: u64,
        total: Option<u64>,
        file: String,
    },
    ModelReady(ModelInfo),
    ModelFailed {
        message: String,
    },
    /// The model would not fit in memory: nothing of it is kept.
    ModelTooLarge(TooLarge),
    LoadCancelled,
    /// A decoded DICOM or grey image. The message's first byte buffer is
    /// its 8-bit grey preview, `width` x `height`; with `levels`, the second
    /// holds its stored values at full size and depth (16-bit words, little
    /// endian), for window/level and the pixel probe.
    Inspected {
        serial: u32,
        width: usize,
        height: usize,
        /// The image's own width, which the preview scales down.
        source_width: usize,
        dicom: Option<Box<DicomDetails>>,
        levels: Option<Box<LevelsInfo>>,
    },
    InspectFailed {
        serial: u32,
        message: String,
    },
    AnalysisDone {
        id: u32,
        probabilities: Vec<f32>,
        /// Each member's own probabilities (`members x labels`).
        member_probabilities: Vec<Vec<f32>>,
        elapsed_ms: f64,
        /// The metadata the analysis used.
        metadata: Metadata,
        /// Why the image may not be a chest radiograph the model can answer for.
        warnings: Vec<Warning>,
        /// The distance to the reference radiographs, where the model has them.
        typicality: Option<Typicality>,
    },
    AnalysisFailed {
        id: u32,
        message: String,
    },
    /// The ensemble's maps at the target layer's resolution, by label index.
    HeatMapsDone {
        id: u32,
        settings: CamSettings,
        maps: Vec<(usize, CamMap)>,
    },
    HeatMapsFailed {
        id: u32,
        message: String,
    },
    /// Each member's map for label index `label`, in member order.
    MemberHeatMapsDone {
        id: u32,
        label: usize,
        settings: CamSettings,
        maps: Vec<CamMap>,
    },
    /// `done` of `total` passes of a faithfulness measure have run.
    FaithfulnessProgress {
        id: u32,
        label: usize,
        settings: CamSettings,
        done: usize,
        total: usize,
    },
    FaithfulnessDone {
        id: u32,
        label: usize,
        settings: CamSettings,
        figures: Faithfulness,
    },
    FaithfulnessFailed {
        id: u32,
        label: usize,
        settings: CamSettings,
        message: String,
    },
    /// Each metadata change with the ensemble's probabilities under it, and
    /// how long the head-only runs took.
    SensitivityDone {
        id: u32,
        changes: Vec<(MetadataChange, Vec<f32>)>,
        elapsed_ms: f64,
    },
    SensitivityFailed {
        id: u32,
        message: String,
    },
}
