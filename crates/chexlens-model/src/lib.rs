//! chexlens-model: the ConvNeXt-Base + CBAM + metadata chest X-ray classifier,
//! its ensemble and Grad-CAM, on any burn device. It knows
//! nothing about browsers or command lines.
//!
//! # One network, three descriptions, one spelling of its keys
//!
//! - `chexlens_checkpoints::architecture::schema`: every tensor's key and
//!   shape, without burn. A file is checked against it before any tensor is
//!   allocated (in the page's worker as the bytes stream in, in the CLI, in
//!   the fuzz targets), and both builders below read their keys from it,
//!   so a key is spelled once.
//! - `model` (`convnext`, `cbam`, `layers`): the network as burn tensors,
//!   structs named as timm's modules. It is the reference forward pass, the
//!   one WebGPU runs, and what Grad-CAM differentiates (its last block).
//! - `model::channels_last`: the same backbone up to its last block as
//!   fused channels-last CPU kernels (three passes over memory a block
//!   instead of about ten, layer scale folded into fc2 at load), used on
//!   burn's CPU backend only. Its speed is the reason it exists
//!   (docs/benchmarks.md); tests hold it to the tensor model and to PyTorch.
//!
//! Merging the first into the second would put burn under every parser and
//! fuzz target; merging the second and third would lose either WebGPU and
//! autodiff or the CPU speed. So three stay, reading one schema.

pub mod analysis;
pub mod ensemble;
pub mod faithfulness;
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
