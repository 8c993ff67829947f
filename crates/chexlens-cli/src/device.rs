//! The burn device the CLI runs on: the CPU backend, or with a build that
//! has the `gpu` feature, burn's wgpu backend on the machine's GPU through
//! Vulkan: the same WGSL kernels and tensor-layout network the page runs
//! on WebGPU.

use chexlens_model::Device;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceChoice {
    /// burn's CPU backend on every core.
    #[default]
    Cpu,
    /// burn's wgpu backend through Vulkan (builds with `--features gpu`).
    Gpu,
}

impl DeviceChoice {
    pub fn open(self) -> Result<Device, String> {
        match self {
            Self::Cpu => Ok(Device::flex()),
            Self::Gpu => open_gpu(),
        }
    }
}

#[cfg(feature = "gpu")]
fn open_gpu() -> Result<Device, String> {
    use chexlens_model::wgpu::WgpuBackend;
    Device::wgpu_options()
        .graphics_api(WgpuBackend::Vulkan)
        .init()
        .map_err(|e| format!("the GPU could not be started through Vulkan ({e})"))
}

#[cfg(not(feature = "gpu"))]
fn open_gpu() -> Result<Device, String> {
    Err("this chexlens was built without its GPU backend (cargo build --release --bin chexlens --features gpu)".into())
}
