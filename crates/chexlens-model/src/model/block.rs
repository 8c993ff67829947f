//! A ConvNeXt block and the stage's downsampling, as tensors, and what the
//! trunk before the last block hands on: shared by both backbone layouts
//! (the channels-last trunk converts its blocks to these on request).

use super::gelu::gelu;
use super::layers::{Conv2d, LayerNorm, Linear, Loaded, WeightReader};
use burn::tensor::Tensor;
use chexlens_checkpoints::architecture::BlockSpec;

/// `mlp.fc1` -> GELU (exact, erf) -> `mlp.fc2`.
#[derive(Clone)]
pub struct Mlp {
    pub fc1: Linear,
    pub fc2: Linear,
}

/// depthwise 7x7 -> LayerNorm -> MLP -> layer scale (`gamma`) -> residual.
#[derive(Clone)]
pub struct Block {
    pub conv_dw: Conv2d,
    pub norm: LayerNorm,
    pub mlp: Mlp,
    pub gamma: Tensor<1>,
}

impl Block {
    pub(crate) fn load(r: &mut WeightReader, spec: &BlockSpec, eps: f64) -> Loaded<Self> {
        let dim = spec.gamma.shape[0];
        let padding = spec.conv_dw.weight.shape[2] / 2;
        Ok(Self {
            conv_dw: Conv2d::load(r, &spec.conv_dw, 1, padding, dim)?,
            norm: LayerNorm::load(r, &spec.norm, eps)?,
            mlp: Mlp {
                fc1: Linear::load(r, &spec.fc1)?,
                fc2: Linear::load(r, &spec.fc2)?,
            },
            gamma: r.tensor(&spec.gamma)?,
        })
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_after_conv_dw(x.clone(), self.conv_dw.forward(x))
    }

    /// The rest of the block once its depthwise conv has run: the part that
    /// Grad-CAM differentiates when that conv is its target layer.
    pub fn forward_after_conv_dw(&self, shortcut: Tensor<4>, dw: Tensor<4>) -> Tensor<4> {
        let x = self.norm.forward(dw.permute([0, 2, 3, 1]));
        let x = self.mlp.fc2.forward(gelu(self.mlp.fc1.forward(x)));
        let x = x * self.gamma.clone().unsqueeze::<4>();
        x.permute([0, 3, 1, 2]) + shortcut
    }
}

/// `downsample.0` (LayerNorm2d) -> `downsample.1` (conv 2x2 stride 2).
#[derive(Clone)]
pub struct Downsample {
    pub norm: LayerNorm,
    pub conv: Conv2d,
}

/// What the backbone before its last block hands on.
pub struct TrunkOutput {
    /// The map the last block takes, `[N, C, H, W]`.
    pub before_last_block: Tensor<4>,
    /// The input of the previous stage's last block (none with a single
    /// stage), kept for the finer Grad-CAM layer.
    pub previous_stage_block_input: Option<Tensor<4>>,
}

/// The layers between the finer Grad-CAM layer and the last block, as
/// tensors: the previous stage's last block, then the last stage's
/// downsampling and its blocks but the last.
pub struct PreviousStageTail {
    pub block: Block,
    pub downsample: Option<Downsample>,
    pub blocks: Vec<Block>,
}
