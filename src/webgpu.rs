//! Whether the browser offers a WebGPU adapter, asked of a `navigator`: the
//! page's (which build of the model worker to start) and the plain
//! worker's (which backend to load onto).

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// `navigator.gpu.requestAdapter()` gave an adapter.
pub async fn adapter_available(navigator: &JsValue) -> bool {
    let Ok(gpu) = js_sys::Reflect::get(navigator, &"gpu".into()) else {
        return false;
    };
    if gpu.is_undefined() || gpu.is_null() {
        return false;
    }
    let Ok(request) = js_sys::Reflect::get(&gpu, &"requestAdapter".into())
        .and_then(|f| f.unchecked_into::<js_sys::Function>().call0(&gpu))
    else {
        return false;
    };
    match JsFuture::from(js_sys::Promise::from(request)).await {
        Ok(adapter) => !adapter.is_null() && !adapter.is_undefined(),
        Err(_) => false,
    }
}
