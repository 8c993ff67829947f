//! Choosing the burn device: WebGPU when the browser offers an adapter, the
//! CPU backend otherwise, or whichever the page forces.

use chexlens_model::Device;
use chexlens_web::protocol::{Backend, BackendRequest};
use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

async fn webgpu_adapter_available() -> bool {
    let navigator: JsValue = js_sys::global()
        .unchecked_into::<web_sys::WorkerGlobalScope>()
        .navigator()
        .into();
    let Ok(gpu) = Reflect::get(&navigator, &"gpu".into()) else {
        return false;
    };
    if gpu.is_undefined() || gpu.is_null() {
        return false;
    }
    let Ok(request) =
        Reflect::get(&gpu, &"requestAdapter".into()).and_then(|f| f.unchecked_into::<js_sys::Function>().call0(&gpu))
    else {
        return false;
    };
    match JsFuture::from(js_sys::Promise::from(request)).await {
        Ok(adapter) => !adapter.is_null() && !adapter.is_undefined(),
        Err(_) => false,
    }
}

async fn init_webgpu() -> Result<Device, String> {
    use chexlens_model::wgpu::WgpuBackend;
    Device::wgpu_options()
        .graphics_api(WgpuBackend::WebGpu)
        .init_async()
        .await
        .map_err(|e| format!("WebGPU could not be started ({e:?})"))
}

/// The device for a request; `cached` keeps the WebGPU device, which burn
/// initialises once per worker.
pub async fn select(request: BackendRequest, cached: &mut Option<Device>) -> Result<(Device, Backend), String> {
    let want_gpu = match request {
        Some(Backend::Cpu) => false,
        Some(Backend::Webgpu) => true,
        None => cached.is_some() || webgpu_adapter_available().await,
    };
    if !want_gpu {
        return Ok((Device::flex(), Backend::Cpu));
    }
    if let Some(device) = cached {
        return Ok((device.clone(), Backend::Webgpu));
    }
    if !webgpu_adapter_available().await {
        return match request {
            Some(Backend::Webgpu) => Err("this browser offers no WebGPU adapter; use the CPU backend".into()),
            _ => Ok((Device::flex(), Backend::Cpu)),
        };
    }
    match init_webgpu().await {
        Ok(device) => {
            *cached = Some(device.clone());
            Ok((device, Backend::Webgpu))
        }
        Err(e) if request == Some(Backend::Webgpu) => Err(e),
        Err(_) => Ok((Device::flex(), Backend::Cpu)),
    }
}
