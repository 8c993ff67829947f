//! GELU as timm's ConvNeXt uses it: exact, `x/2 * (1 + erf(x/sqrt 2))`.
//!
//! burn's CPU backend evaluates libm's `erff` one element at a time on one
//! thread, about a fifth of a forward pass. On that backend, outside
//! autodiff, the activation is applied here instead, with a rational erf
//! that compiles to straight-line arithmetic the compiler vectorises (and,
//! natively, on every core). Its error is at most 5e-7 for erf and
//! 5e-7 * (1 + |x|) for GELU (tested against an f64 erf); other backends
//! keep burn's.

use super::cpu_kernels::{gelu_derivative_in_place, gelu_in_place};
use burn::tensor::activation;
use burn::tensor::{DType, Device, Tensor, TensorData};

/// GELU of a tensor: the rational erf on the CPU backend outside autodiff,
/// burn's own everywhere else.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    on_cpu_values(x, gelu_in_place, activation::gelu)
}

/// GELU's derivative, for Grad-CAM's backward pass: as `gelu`, the
/// rational erf on the CPU backend, burn's erf and exp elsewhere.
pub fn gelu_derivative<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    on_cpu_values(x, gelu_derivative_in_place, |x| {
        let cdf = (x.clone() * std::f32::consts::FRAC_1_SQRT_2).erf().add_scalar(1.0) * 0.5;
        let pdf = (x.clone() * x.clone() * -0.5).exp()
            * (0.5 * std::f32::consts::FRAC_2_SQRT_PI * std::f32::consts::FRAC_1_SQRT_2);
        cdf + x * pdf
    })
}

/// `kernel` over an f32 tensor's values on the CPU backend outside
/// autodiff, `tensor_ops` on anything else.
fn on_cpu_values<const D: usize>(
    x: Tensor<D>,
    kernel: fn(&mut [f32]),
    tensor_ops: impl FnOnce(Tensor<D>) -> Tensor<D>,
) -> Tensor<D> {
    let device = x.device();
    if device.is_autodiff() || device != Device::flex() || x.dtype() != DType::F32 {
        return tensor_ops(x);
    }
    let shape = x.shape();
    let mut values = x
        .into_data()
        .try_into_vec::<f32>()
        .expect("an f32 tensor's data is f32");
    kernel(&mut values);
    Tensor::from_data(TensorData::new(values, shape), &device)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// burn's ops run on the autodiff device.
    #[cfg(feature = "autodiff")]
    #[test]
    fn tensor_gelu_derivative_equals_burns_erf_and_exp() {
        let device = Device::flex();
        let values: Vec<f32> = (0..4096).map(|i| (i as f32 - 2048.0) / 256.0).collect();
        let x = Tensor::<2>::from_data(TensorData::new(values.clone(), [64, 64]), &device);
        let ours = gelu_derivative(x.clone()).into_data().try_into_vec::<f32>().unwrap();
        let burns = gelu_derivative(x.autodiff()).into_data().try_into_vec::<f32>().unwrap();
        for ((a, b), x) in ours.iter().zip(&burns).zip(&values) {
            assert!((a - b).abs() <= 2e-6, "gelu'({x}): {a} vs burn's {b}");
        }
    }

    #[test]
    fn tensor_gelu_equals_burns_exact_gelu() {
        let device = Device::flex();
        let values: Vec<f32> = (0..4096).map(|i| (i as f32 - 2048.0) / 256.0).collect();
        let x = Tensor::<2>::from_data(TensorData::new(values.clone(), [64, 64]), &device);
        let ours = gelu(x.clone()).into_data().try_into_vec::<f32>().unwrap();
        let burns = activation::gelu(x).into_data().try_into_vec::<f32>().unwrap();
        for ((a, b), x) in ours.iter().zip(&burns).zip(&values) {
            assert!((a - b).abs() <= 1e-6 * (1.0 + x.abs()), "gelu({x}): {a} vs burn's {b}");
        }
    }
}
