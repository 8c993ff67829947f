//! chexlens-formats: every file chexlens reads from a user — PyTorch and
//! safetensors checkpoints, model manifests, PNG, JPEG and DICOM images —
//! turned into plain data (f32 tensors, 8-bit planes, settings). Each is
//! checked against hard bounds before anything is allocated from what the
//! file says about itself. No tensors, no burn: the fuzz targets build this
//! crate alone, and the page's module links it without the model. Also what
//! is drawn from a result without the model: heat maps (`cam`).

pub mod architecture;
pub mod batch_results;
pub mod cam;
pub mod combine;
pub mod csv;
pub mod dicom;
pub mod evaluation;
pub mod export;
pub mod hub;
pub mod image;
pub mod input;
pub mod jpeg;
pub mod jpeg_ls;
pub mod labelled;
pub mod labels;
pub mod levels;
pub mod manifest;
pub mod metadata;
pub mod preprocess;
pub mod weights;
pub mod window;

pub use architecture::{ArchitectureConfig, ArchitectureError};
pub use combine::CombineRule;
pub use image::XrayImage;
pub use input::{
    DicomDetails, ImageError, LoadedXray, decode_image, decode_xray, decode_xray_frame, decode_xray_frame_with_levels,
};
pub use manifest::{Manifest, ManifestError, MemberSpec, ModelSettings, Thresholds};
pub use metadata::{Metadata, Projection, Sex, View};
pub use preprocess::{InputConfig, ResizeFilter};
pub use weights::{StateDict, WeightError, WeightErrorKind};
