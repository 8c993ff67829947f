//! chexlens-model: the ConvNeXt-Base + CBAM + metadata chest X-ray classifier,
//! its ensemble and Grad-CAM, on any burn device. It knows
//! nothing about browsers or command lines.

pub mod analysis;
pub mod ensemble;
pub mod gradcam;
pub mod model;

// The file formats, settings and heat-map drawing live in chexlens-formats
// (no burn, so that they fuzz quickly and the page links them alone); they
// are re-exported under their old paths.
pub use chexlens_formats::{
    architecture, cam, combine, csv, dicom, evaluation, export, hub, input, labelled, labels, manifest, metadata,
    preprocess, weights,
};

pub use analysis::{Analysis, AnalysisError, Finding, Prediction, wait};
pub use architecture::{ArchitectureConfig, ArchitectureError};
pub use burn::tensor::{Device, Tensor};
pub use ensemble::{CombineRule, Ensemble};
pub use input::{
    DicomDetails, ImageError, LoadedXray, XrayImage, decode_image, decode_xray, decode_xray_frame,
    decode_xray_frame_with_levels,
};
pub use manifest::{Manifest, ManifestError, MemberSpec, ModelSettings, Thresholds};
pub use metadata::{Metadata, Projection, Sex, View};
pub use preprocess::{InputConfig, ResizeFilter};
pub use weights::{StateDict, WeightError, WeightErrorKind};

/// burn's wgpu runtime options (WebGPU initialisation in browsers).
#[cfg(feature = "webgpu")]
pub use burn::tensor::wgpu;
