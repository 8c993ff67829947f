//! The chexlens page: a Leptos UI (`app`) on the main thread, the messages
//! it exchanges with the model worker (`protocol`, the worker itself is the
//! `chexlens-worker` crate in `worker/`), and the offline copies of models
//! that both read (`model_cache`, `model_files`). It depends on the file
//! crates (chexlens-images, -checkpoints, -research, -hub, -chexpert), not
//! on the model crate: the page's module carries none of burn.

pub mod protocol;
/// The viewer's pan and zoom maths: no web types, so that its tests run natively.
pub mod view_transform;

#[cfg(all(target_arch = "wasm32", feature = "app"))]
pub mod app;
#[cfg(target_arch = "wasm32")]
pub mod model_cache;
#[cfg(target_arch = "wasm32")]
pub mod model_files;
#[cfg(target_arch = "wasm32")]
pub mod opfs;
#[cfg(target_arch = "wasm32")]
pub mod transport;
#[cfg(target_arch = "wasm32")]
pub mod webgpu;
