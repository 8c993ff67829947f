//! Choosing the burn device: WebGPU when the browser offers an adapter, the
//! CPU backend otherwise, or whichever the page forces. The threaded build
//! has no WebGPU (worker/Cargo.toml): the page starts it only for the CPU.

use chexlens_model::Device;
use chexlens_web::protocol::{Backend, BackendRequest};
#[cfg(not(target_feature = "atomics"))]
use wasm_bindgen::{JsCast, JsValue};

#[cfg(not(target_feature = "atomics"))]
async fn webgpu_adapter_available() -> bool {
    let navigator: JsValue = js_sys::global()
        .unchecked_into::<web_sys::WorkerGlobalScope>()
        .navigator()
        .into();
    chexlens_web::webgpu::adapter_available(&navigator).await
}

#[cfg(not(target_feature = "atomics"))]
async fn init_webgpu() -> Result<Device, String> {
    use chexlens_model::wgpu::WgpuBackend;
    Device::wgpu_options()
        .graphics_api(WgpuBackend::WebGpu)
        .init_async()
        .await
        .map_err(|e| format!("WebGPU could not be started ({e:?})"))
}

#[cfg(target_feature = "atomics")]
pub async fn select(request: BackendRequest, _cached: &mut Option<Device>) -> Result<(Device, Backend), String> {
    match request {
        Some(Backend::Webgpu) => Err("this worker runs the CPU backend only; reload the page for WebGPU".into()),
        _ => Ok((Device::flex(), Backend::Cpu)),
    }
}

/// The device for a request; `cached` keeps the WebGPU device, which burn
/// initialises once per worker.
#[cfg(not(target_feature = "atomics"))]
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
