//! The few layers the network is made of, built from checkpoint tensors.
//! Weights are plain tensors: no training here, and Grad-CAM only needs
//! gradients with respect to activations.

use burn::tensor::module::{conv2d, layer_norm, linear};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use chexlens_checkpoints::architecture::{LayerSpec, TensorSpec};
use chexlens_checkpoints::weights::{StateDict, TensorF32, WeightError, WeightErrorKind};

/// Hands out a validated checkpoint's tensors by their schema entry, each
/// checked against the shape the schema gives it, moving them onto a device.
pub struct WeightReader<'a> {
    weights: StateDict,
    device: &'a Device,
}

impl<'a> WeightReader<'a> {
    pub fn new(weights: StateDict, device: &'a Device) -> Self {
        Self { weights, device }
    }

    /// A tensor's values as the checkpoint holds them, in the schema's shape.
    pub(crate) fn raw(&mut self, spec: &TensorSpec) -> Loaded<TensorF32> {
        let t = self
            .weights
            .tensors
            .remove(&spec.key)
            .ok_or_else(|| self.weights.error(WeightErrorKind::MissingKeys(vec![spec.key.clone()])))?;
        if t.shape != spec.shape || t.data.len() != spec.shape.iter().product::<usize>() {
            return Err(self.weights.error(WeightErrorKind::ShapeMismatch {
                key: spec.key.clone(),
                expected: spec.shape.clone(),
                found: t.shape,
            }));
        }
        Ok(t)
    }

    pub fn tensor<const D: usize>(&mut self, spec: &TensorSpec) -> Loaded<Tensor<D>> {
        let t = self.raw(spec)?;
        if t.shape.len() != D {
            return Err(self.weights.error(WeightErrorKind::ShapeMismatch {
                key: spec.key.clone(),
                expected: vec![0; D],
                found: t.shape,
            }));
        }
        Ok(Tensor::from_data(TensorData::new(t.data, t.shape), self.device))
    }

    /// A PyTorch Linear weight `[out, in]`, stored transposed as burn's `[in, out]`.
    pub fn linear_weight(&mut self, spec: &TensorSpec) -> Loaded<Tensor<2>> {
        let t = self.raw(spec)?;
        let [out, inp] = t.shape[..] else {
            return Err(self.weights.error(WeightErrorKind::ShapeMismatch {
                key: spec.key.clone(),
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

    /// A layer's bias, which the schema says it has.
    pub(crate) fn bias(&mut self, layer: &LayerSpec) -> Loaded<Tensor<1>> {
        match &layer.bias {
            Some(spec) => self.tensor(spec),
            None => Err(self.weights.error(WeightErrorKind::MissingKeys(vec![format!(
                "{} (bias)",
                layer.weight.key
            )]))),
        }
    }
}

pub type Loaded<T> = Result<T, WeightError>;

/// `nn.Conv2d` (any groups, symmetric padding).
#[derive(Clone)]
pub struct Conv2d {
    pub weight: Tensor<4>,
    pub bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
}

impl Conv2d {
    pub fn load(r: &mut WeightReader, spec: &LayerSpec, stride: usize, padding: usize, groups: usize) -> Loaded<Self> {
        Ok(Self {
            weight: r.tensor(&spec.weight)?,
            bias: match &spec.bias {
                Some(bias) => Some(r.tensor(bias)?),
                None => None,
            },
            options: ConvOptions::new([stride; 2], [padding; 2], [1, 1], groups),
        })
    }

    /// From tensors already in PyTorch's `[out, in / groups, k, k]` layout.
    pub fn new(weight: Tensor<4>, bias: Option<Tensor<1>>, stride: usize, padding: usize, groups: usize) -> Self {
        Self {
            weight,
            bias,
            options: ConvOptions::new([stride; 2], [padding; 2], [1, 1], groups),
        }
    }

    pub fn stride(&self) -> usize {
        self.options.stride[0]
    }

    pub fn padding(&self) -> usize {
        self.options.padding[0].0
    }

    pub fn groups(&self) -> usize {
        self.options.groups
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        conv2d(x, self.weight.clone(), self.bias.clone(), self.options.clone())
    }
}

/// `nn.Linear`, applied over the last dimension.
#[derive(Clone)]
pub struct Linear {
    /// `[in, out]`, burn's layout.
    pub weight: Tensor<2>,
    pub bias: Tensor<1>,
}

impl Linear {
    pub fn load(r: &mut WeightReader, spec: &LayerSpec) -> Loaded<Self> {
        Ok(Self {
            weight: r.linear_weight(&spec.weight)?,
            bias: r.bias(spec)?,
        })
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        linear(x, self.weight.clone(), Some(self.bias.clone()))
    }
}

/// LayerNorm over the last dimension.
#[derive(Clone)]
pub struct LayerNorm {
    pub weight: Tensor<1>,
    pub bias: Tensor<1>,
    eps: f64,
}

impl LayerNorm {
    pub fn load(r: &mut WeightReader, spec: &LayerSpec, eps: f64) -> Loaded<Self> {
        Ok(Self {
            weight: r.tensor(&spec.weight)?,
            bias: r.bias(spec)?,
            eps,
        })
    }

    pub fn new(weight: Tensor<1>, bias: Tensor<1>, eps: f64) -> Self {
        Self { weight, bias, eps }
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
