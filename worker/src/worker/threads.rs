//! The threaded build's thread pool. Built with wasm threads (see
//! worker/Cargo.toml), this worker runs in a cross-origin isolated page
//! only, and starts rayon's pool on Web Workers that share its memory
//! (wasm-bindgen-rayon) before it answers the page: the channels-last
//! kernels and their matrix products then use every core. The plain build
//! has no pool: one thread, and member workers side by side instead.

use std::sync::atomic::{AtomicUsize, Ordering};
use wasm_bindgen::JsCast;

/// The pool's threads once it runs (1 in the plain build).
static POOL_THREADS: AtomicUsize = AtomicUsize::new(1);

/// The most threads a page may ask for with `?threads=` (pools beyond
/// the browser's cores only add scheduling).
#[cfg(target_feature = "atomics")]
const MOST_THREADS: usize = 64;

/// A pool helper: wasm-bindgen-rayon starts each one from a `blob:` copy
/// of its script, and it must run no worker of its own (it instantiates
/// this module, whose start function is this worker's `main`).
pub fn is_pool_helper() -> bool {
    let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    scope.location().protocol() == "blob:"
}

/// Threads each analysis runs on.
pub fn threads() -> usize {
    POOL_THREADS.load(Ordering::Relaxed)
}

/// The pool's size: `?threads=N` on the worker's address (the page passes
/// the user's choice on), else the cores the browser reports.
#[cfg(target_feature = "atomics")]
fn wanted_threads() -> usize {
    let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let asked = web_sys::UrlSearchParams::new_with_str(&scope.location().search())
        .ok()
        .and_then(|query| query.get("threads"))
        .and_then(|n| n.parse::<usize>().ok());
    let cores = scope.navigator().hardware_concurrency() as usize;
    asked.unwrap_or(cores).clamp(1, MOST_THREADS)
}

/// Starts the pool. Where the browser refuses (no shared memory after all,
/// a helper that cannot start), the worker runs on its own thread: rayon
/// is given a pool of just this thread, so nothing tries to spawn one.
#[cfg(target_feature = "atomics")]
pub async fn start_pool() {
    let wanted = wanted_threads();
    let started = wanted > 1
        && wasm_bindgen_futures::JsFuture::from(wasm_bindgen_rayon::init_thread_pool(wanted))
            .await
            .is_ok();
    if started {
        POOL_THREADS.store(wanted, Ordering::Relaxed);
        return;
    }
    if rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .use_current_thread()
        .build_global()
        .is_err()
    {
        web_sys::console::error_1(&"chexlens: no thread pool could be built".into());
    }
}

/// The plain build has no pool to start.
#[cfg(not(target_feature = "atomics"))]
pub async fn start_pool() {}
