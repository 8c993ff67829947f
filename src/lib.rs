//! The chexlens page: a Leptos UI (`app`) on the main thread and a Web Worker
//! (`worker`) that owns the model, talking through `protocol`.

pub mod memory_budget;
pub mod passes;
pub mod protocol;

#[cfg(target_arch = "wasm32")]
pub mod app;
#[cfg(target_arch = "wasm32")]
pub mod model_cache;
#[cfg(target_arch = "wasm32")]
pub mod model_files;
#[cfg(target_arch = "wasm32")]
pub mod transport;
#[cfg(target_arch = "wasm32")]
pub mod worker;
