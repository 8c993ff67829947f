//! The few layers the network is made of, built from checkpoint tensors.
//! Weights are plain tensors: no training here, and Grad-CAM only needs
//! gradients with respect to activations.

use crate::weights::{StateDict, TensorF32, WeightErrorKind};
use burn::tensor::module::{conv2d, layer_norm, linear};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};

/// Hands out a validated checkpoint's tensors by name, moving them onto a device.
pub struct WeightReader<'a> {
    weights: StateDict,
    device: &'a Device,
}

impl<'a> WeightReader<'a> {
    pub fn new(weights: StateDict, device: &'a Device) -> Self {
        Self { weights, device }
    }

    /// A tensor's values and shape as the checkpoint holds them.
    pub(crate) fn raw(&mut self, key: &str) -> Result<TensorF32, crate::weights::WeightError> {
        self.weights
            .tensors
            .remove(key)
            .ok_or_else(|| self.weights.error(WeightErrorKind::MissingKeys(vec![key.to_string()])))
    }

    pub fn tensor<const D: usize>(&mut self, key: &str) -> Result<Tensor<D>, crate::weights::WeightError> {
        let t = self.raw(key)?;
        if t.shape.len() != D {
            return Err(self.weights.error(WeightErrorKind::ShapeMismatch {
                key: key.to_string(),
                expected: vec![0; D],
                found: t.shape,
            }));
        }
        Ok(Tensor::from_data(TensorData::new(t.data, t.shape), self.device))
    }

    /// A PyTorch Linear weight `[out, in]`, stored transposed as burn's `[in, out]`.
    pub fn linear_weight(&mut self, key: &str) -> Result<Tensor<2>, crate::weights::WeightError> {
        let t = self.raw(key)?;
        let [out, inp] = t.shape[..] else {
            return Err(self.weights.error(WeightErrorKind::ShapeMismatch {
                key: key.to_string(),
                expected: vec![0, 0],
                found: t.shape,
            }));
        };
        let mut transposed = vec![0f32; t.data.len()];
        for o in 0..out {
            for i in 0..inp {
                transposed[i * out + o] = t.data[o * inp + i];
            }
        }
        Ok(Tensor::from_data(TensorData::new(transposed, [inp, out]), self.device))
    }
}

pub type Loaded<T> = Result<T, crate::weights::WeightError>;

/// `nn.Conv2d` (any groups, symmetric padding).
pub struct Conv2d {
    pub weight: Tensor<4>,
    pub bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
}

impl Conv2d {
    pub fn load(
        r: &mut WeightReader,
        prefix: &str,
        stride: usize,
        padding: usize,
        groups: usize,
        bias: bool,
    ) -> Loaded<Self> {
        Ok(Self {
            weight: r.tensor(&format!("{prefix}.weight"))?,
            bias: if bias {
                Some(r.tensor(&format!("{prefix}.bias"))?)
            } else {
                None
            },
            options: ConvOptions::new([stride; 2], [padding; 2], [1, 1], groups),
        })
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        conv2d(x, self.weight.clone(), self.bias.clone(), self.options.clone())
    }
}

/// `nn.Linear`, applied over the last dimension.
pub struct Linear {
    /// `[in, out]`, burn's layout.
    pub weight: Tensor<2>,
    pub bias: Tensor<1>,
}

impl Linear {
    pub fn load(r: &mut WeightReader, prefix: &str) -> Loaded<Self> {
        Ok(Self {
            weight: r.linear_weight(&format!("{prefix}.weight"))?,
            bias: r.tensor(&format!("{prefix}.bias"))?,
        })
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        linear(x, self.weight.clone(), Some(self.bias.clone()))
    }
}

/// LayerNorm over the last dimension.
pub struct LayerNorm {
    pub weight: Tensor<1>,
    pub bias: Tensor<1>,
    eps: f64,
}

impl LayerNorm {
    pub fn load(r: &mut WeightReader, prefix: &str, eps: f64) -> Loaded<Self> {
        Ok(Self {
            weight: r.tensor(&format!("{prefix}.weight"))?,
            bias: r.tensor(&format!("{prefix}.bias"))?,
            eps,
        })
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        layer_norm(x, self.weight.clone(), Some(self.bias.clone()), self.eps)
    }

    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// timm's LayerNorm2d: normalise each pixel over channels of an NCHW map.
    pub fn forward_2d(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward(x.permute([0, 2, 3, 1])).permute([0, 3, 1, 2])
    }
}
