//! chexlens-model: the ConvNeXt-Base + CBAM + metadata chest X-ray classifier,
//! its weights, preprocessing and ensemble, on any burn device. It knows
//! nothing about browsers or command lines.

pub mod architecture;
pub mod cam;
pub mod dicom;
pub mod ensemble;
pub mod gradcam;
pub mod labels;
pub mod manifest;
pub mod metadata;
pub mod model;
pub mod preprocess;
pub mod weights;

pub use architecture::ArchitectureConfig;
pub use burn::tensor::{Device, Tensor};
pub use ensemble::{CombineRule, Ensemble, Finding, Prediction};
pub use manifest::{Manifest, ManifestError, MemberSpec, ModelSettings, Thresholds};
pub use metadata::{Metadata, Projection, Sex, View};
pub use preprocess::{
    DicomDetails, ImageError, InputConfig, LoadedXray, ResizeFilter, XrayImage, decode_image, decode_xray,
};
pub use weights::{StateDict, WeightError, WeightErrorKind};

/// burn's wgpu runtime options (WebGPU initialisation in browsers).
#[cfg(feature = "webgpu")]
pub use burn::tensor::wgpu;
