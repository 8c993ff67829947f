//! chexlens-model: the ConvNeXt-Base + CBAM + metadata chest X-ray classifier,
//! its ensemble and Grad-CAM, on any burn device. It knows
//! nothing about browsers or command lines.

pub mod analysis;
pub mod ensemble;
pub mod gradcam;
pub mod model;

// Images, checkpoints, settings and heat-map drawing live in the crates
// below this one (chexlens-images, -checkpoints, -chexpert; no burn, so
// that they fuzz quickly and the page links them alone); callers name
// those crates for them.

pub use analysis::{Analysis, AnalysisError, Finding, Prediction, wait};
pub use burn::tensor::{Device, Tensor};
pub use ensemble::Ensemble;

/// burn's wgpu runtime options (WebGPU initialisation in browsers).
#[cfg(feature = "webgpu")]
pub use burn::tensor::wgpu;
