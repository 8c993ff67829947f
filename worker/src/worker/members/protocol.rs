//! Messages between the model worker and its member workers, in the same
//! `{ json, bytes }` form as the page's (see `transport`). Every request
//! carries a sequence number that its reply repeats.

use chexlens_checkpoints::architecture::ArchitectureConfig;
use chexlens_checkpoints::manifest::ModelSettings;
use chexlens_chexpert::metadata::Metadata;
use chexlens_images::cam::CamMap;
use chexlens_model::gradcam::CamSettings;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub seq: u32,
    pub body: T,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToMember {
    /// A weight file follows in `Append` pieces, read as they arrive;
    /// a file opened again starts over.
    Open { name: String },
    /// The next piece of the open file, in the message's first byte buffer.
    Append,
    /// The open file is whole: keep its member.
    Close,
    /// Build the members read so far, in order.
    Build {
        architecture: Option<ArchitectureConfig>,
        settings: ModelSettings,
    },
    /// Run every member on the normalised `[3, size, size]` image in the
    /// message's first byte buffer (f32, little-endian), keeping what
    /// Grad-CAM needs under `id`.
    Run { id: u32, size: usize, metadata: Metadata },
    /// Each member's logits for analysis `id` with other metadata: only
    /// the layers after the kept backbone pass run.
    Head { id: u32, metadata: Metadata },
    /// Each member's maps for analysis `id`.
    HeatMaps {
        id: u32,
        labels: Vec<usize>,
        settings: CamSettings,
    },
    /// Each member's logits on the normalised `[3, size, size]` image in
    /// the message's first byte buffer, keeping nothing (the faithfulness
    /// measures' perturbed images).
    Score { size: usize, metadata: Metadata },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FromMember {
    /// Listening (sequence number 0).
    Ready,
    /// A message of a weight file was read; once the file's index is,
    /// the bytes its f32 weights take.
    Read {
        f32_bytes: Option<u64>,
    },
    /// Room for the open file's weights could not be had.
    NoRoom {
        needed: u64,
    },
    /// Built; the architecture its members were built with.
    Built {
        architecture: ArchitectureConfig,
    },
    /// Each member's logits.
    Ran {
        logits: Vec<Vec<f32>>,
    },
    /// Each member's logits and pooled features of a new image.
    Analysed {
        logits: Vec<Vec<f32>>,
        features: Vec<Vec<f32>>,
    },
    /// Each member's scaled maps, `members x labels`.
    HeatMaps {
        maps: Vec<Vec<CamMap>>,
    },
    Failed {
        message: String,
    },
}
