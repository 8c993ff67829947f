//! The chexlens model worker: a Web Worker (`worker`) that owns the model
//! and runs every load and analysis off the page's main thread, talking to
//! the page through `chexlens_web::protocol`. A crate of its own so that the
//! page's module links none of burn.

pub mod memory_budget;
pub mod passes;

#[cfg(target_arch = "wasm32")]
pub mod worker;
