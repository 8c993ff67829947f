//! The Web Worker that runs the model (built by tools/build/page.mjs).

#[cfg(target_arch = "wasm32")]
fn main() {
    // A panic goes to the developer console only; the page sees a stopped
    // worker, says so in plain words and starts a new one.
    console_error_panic_hook::set_once();
    chexlens_worker::worker::run();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("chexlens-worker runs in a browser; build it with `bash scripts/serve` (see README)");
}
