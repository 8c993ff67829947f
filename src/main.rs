//! The chexlens page (built by tools/build/page.mjs).

#[cfg(target_arch = "wasm32")]
fn main() {
    // Panic details go to the developer console only, never into the page.
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(chexlens_web::app::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("chexlens-web is a browser app; build and serve it with `bash scripts/serve` (see README)");
}
