//! chexlens-checkpoints: a model as files. The generic readers of PyTorch
//! `.pth` and safetensors weights (`weights`: pickle, zip, streaming, f16
//! and bf16), the one network's shapes and key names checked against what a
//! file holds (`architecture`), and the manifest that makes members an
//! ensemble (`manifest`, `combine`). Every size a file declares is checked
//! before anything is allocated; no tensors, no burn.

pub mod architecture;
pub mod combine;
pub mod manifest;
pub mod weights;
