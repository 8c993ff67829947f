//! CBAM as in the reference: channel attention from the average-pool branch
//! only, then spatial attention from channel mean and max.

use super::layers::{Conv2d, Loaded, WeightReader};
use burn::tensor::Tensor;
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::module::linear;
use chexlens_checkpoints::architecture::CbamSpec;

pub struct Cbam {
    /// `channel_attention.1`, a 1x1 conv C -> C/r, kept as a `[C, C/r]` matrix.
    pub channel_reduce: Tensor<2>,
    /// `channel_attention.3`, a 1x1 conv C/r -> C, kept as a `[C/r, C]` matrix.
    pub channel_expand: Tensor<2>,
    /// `spatial_attention.0`, conv k x k, 2 -> 1, no bias.
    pub spatial: Conv2d,
}

impl Cbam {
    pub fn load(r: &mut WeightReader, spec: &CbamSpec) -> Loaded<Self> {
        let padding = spec.spatial_attention_0.weight.shape[2] / 2;
        let as_matrix = |w: Tensor<4>| {
            let [out, inp, _, _] = w.dims();
            w.reshape([out, inp]).transpose()
        };
        Ok(Self {
            channel_reduce: as_matrix(r.tensor(&spec.channel_attention_1.weight)?),
            channel_expand: as_matrix(r.tensor(&spec.channel_attention_3.weight)?),
            spatial: Conv2d::load(r, &spec.spatial_attention_0, 1, padding, 1)?,
        })
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [n, c, _, _] = x.dims();
        let pooled = x.clone().mean_dim(3).mean_dim(2).reshape([n, c]);
        let hidden = relu(linear(pooled, self.channel_reduce.clone(), None));
        let channel = sigmoid(linear(hidden, self.channel_expand.clone(), None));
        let x = x * channel.reshape([n, c, 1, 1]);

        let mean = x.clone().mean_dim(1);
        let max = x.clone().max_dim(1);
        let spatial = sigmoid(self.spatial.forward(Tensor::cat(vec![mean, max], 1)));
        x * spatial
    }
}
