//! Which build of the model worker the page starts. The threaded build runs
//! burn's CPU backend on a pool of every core, but it needs shared memory,
//! which browsers give only to a cross-origin isolated page (its service
//! worker makes it one, from the second visit on), and it has no WebGPU.
//! Everywhere else the plain build runs: WebGPU where offered, else the CPU
//! backend with the members in workers side by side.

use crate::protocol::Backend;

/// The build to start, and what its address carries.
#[derive(Clone, Debug, PartialEq)]
pub enum WorkerBuild {
    Plain,
    /// `script`: the threaded build's start script (named by the build);
    /// `threads`: the pool size the page asked for (`?threads=N`); `None`:
    /// the cores the browser reports.
    Threaded {
        script: String,
        threads: Option<usize>,
    },
}

/// Whether this page may share memory with its workers.
pub fn cross_origin_isolated() -> bool {
    web_sys::window()
        .and_then(|w| js_sys::Reflect::get(&w, &"crossOriginIsolated".into()).ok())
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

/// Whether the page's browser offers a WebGPU adapter (what the plain
/// worker would pick by itself).
async fn webgpu_adapter() -> bool {
    match web_sys::window() {
        Some(window) => crate::webgpu::adapter_available(&window.navigator().into()).await,
        None => false,
    }
}

/// The threaded build where the page is isolated and the analysis runs on
/// the CPU (asked for, or no WebGPU adapter), unless `?threads=0`.
pub async fn choose(backend: Option<Backend>, threads: Option<usize>) -> WorkerBuild {
    // The threaded build's start script, where this build has one.
    let script = super::pwa::page_meta("chexlens-threads-worker");
    let Some(script) = script.filter(|_| threads != Some(0) && cross_origin_isolated()) else {
        return WorkerBuild::Plain;
    };
    let cpu = match backend {
        Some(Backend::Cpu) => true,
        Some(Backend::Webgpu) => false,
        None => !webgpu_adapter().await,
    };
    if cpu {
        WorkerBuild::Threaded { script, threads }
    } else {
        WorkerBuild::Plain
    }
}
