//! The Web Worker that runs the model (built by trunk as a worker).

#[cfg(target_arch = "wasm32")]
fn main() {
    // A panic goes to the developer console only; the page sees a stopped
    // worker, says so in plain words and starts a new one.
    console_error_panic_hook::set_once();
    chexlens_web::worker::run();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("chexlens-worker runs in a browser; build it with trunk");
}
