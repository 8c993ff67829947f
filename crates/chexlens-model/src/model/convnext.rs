//! The ConvNeXt backbone as timm builds it with `features_only=True`:
//! stem, four stages, no final norm. Field names mirror the checkpoint.

use super::channels_last::ConvNeXtTrunk;
use super::gelu::gelu;
use super::layers::{Conv2d, LayerNorm, Linear, Loaded, WeightReader};
use crate::architecture::{ArchitectureConfig, BACKBONE};
use burn::tensor::{Device, Tensor};

/// `mlp.fc1` -> GELU (exact, erf) -> `mlp.fc2`.
pub struct Mlp {
    pub fc1: Linear,
    pub fc2: Linear,
}

/// depthwise 7x7 -> LayerNorm -> MLP -> layer scale (`gamma`) -> residual.
pub struct Block {
    pub conv_dw: Conv2d,
    pub norm: LayerNorm,
    pub mlp: Mlp,
    pub gamma: Tensor<1>,
}

impl Block {
    pub(crate) fn load(r: &mut WeightReader, prefix: &str, dim: usize, eps: f64) -> Loaded<Self> {
        Ok(Self {
            conv_dw: Conv2d::load(r, &format!("{prefix}.conv_dw"), 1, 3, dim, true)?,
            norm: LayerNorm::load(r, &format!("{prefix}.norm"), eps)?,
            mlp: Mlp {
                fc1: Linear::load(r, &format!("{prefix}.mlp.fc1"))?,
                fc2: Linear::load(r, &format!("{prefix}.mlp.fc2"))?,
            },
            gamma: r.tensor(&format!("{prefix}.gamma"))?,
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
pub struct Downsample {
    pub norm: LayerNorm,
    pub conv: Conv2d,
}

pub struct Stage {
    pub downsample: Option<Downsample>,
    pub blocks: Vec<Block>,
}

impl Stage {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.downsample_input(x);
        self.blocks.iter().fold(x, |x, block| block.forward(x))
    }

    pub fn downsample_input(&self, x: Tensor<4>) -> Tensor<4> {
        match &self.downsample {
            Some(d) => d.conv.forward(d.norm.forward_2d(x)),
            None => x,
        }
    }
}

pub struct ConvNeXt {
    pub stem_0: Conv2d,
    pub stem_1: LayerNorm,
    pub stages: Vec<Stage>,
}

impl ConvNeXt {
    pub fn load(r: &mut WeightReader, config: &ArchitectureConfig) -> Loaded<Self> {
        let eps = config.layer_norm_eps;
        let p = config.patch_size;
        let stem_0 = Conv2d::load(r, &format!("{BACKBONE}.stem_0"), p, 0, 1, true)?;
        let stem_1 = LayerNorm::load(r, &format!("{BACKBONE}.stem_1"), eps)?;
        let mut stages = Vec::with_capacity(config.depths.len());
        for (s, (&depth, &dim)) in config.depths.iter().zip(&config.dims).enumerate() {
            let prefix = format!("{BACKBONE}.stages_{s}");
            let downsample = if s == 0 {
                None
            } else {
                Some(Downsample {
                    norm: LayerNorm::load(r, &format!("{prefix}.downsample.0"), eps)?,
                    conv: Conv2d::load(r, &format!("{prefix}.downsample.1"), 2, 0, 1, true)?,
                })
            };
            let blocks = (0..depth)
                .map(|b| Block::load(r, &format!("{prefix}.blocks.{b}"), dim, eps))
                .collect::<Loaded<Vec<_>>>()?;
            stages.push(Stage { downsample, blocks });
        }
        Ok(Self { stem_0, stem_1, stages })
    }

    pub fn stem(&self, x: Tensor<4>) -> Tensor<4> {
        self.stem_1.forward_2d(self.stem_0.forward(x))
    }

    /// Everything before the last block of the last stage: the part that
    /// prediction and Grad-CAM share.
    pub fn forward_until_last_block(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.stem(x);
        let Some((last_stage, earlier)) = self.stages.split_last() else {
            return x;
        };
        let x = earlier.iter().fold(x, |x, stage| stage.forward(x));
        let x = last_stage.downsample_input(x);
        let before_last = last_stage.blocks.len().saturating_sub(1);
        last_stage.blocks[..before_last]
            .iter()
            .fold(x, |x, block| block.forward(x))
    }

    /// The last block of the last stage (a loaded backbone always has one).
    pub fn last_block(&self) -> &Block {
        self.stages
            .last()
            .and_then(|s| s.blocks.last())
            .expect("ArchitectureConfig::check guarantees a stage with blocks")
    }
}

/// How the backbone before its last block is held and run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackboneLayout {
    /// burn tensor ops throughout: every device, and the form that mirrors timm.
    Tensors,
    /// The fused channels-last CPU kernels (`channels_last`), about half the
    /// time of burn's ops on its CPU backend; the last block stays in tensors.
    ChannelsLast,
}

impl BackboneLayout {
    /// Channels-last on the CPU backend, tensors everywhere else.
    pub fn for_device(device: &Device) -> Self {
        if *device == Device::flex() {
            Self::ChannelsLast
        } else {
            Self::Tensors
        }
    }
}

/// The backbone in one of the two layouts; both give the same numbers.
pub enum Backbone {
    Tensors(Box<ConvNeXt>),
    ChannelsLast {
        trunk: ConvNeXtTrunk,
        last_block: Box<Block>,
    },
}

impl Backbone {
    pub fn load(r: &mut WeightReader, config: &ArchitectureConfig, layout: BackboneLayout) -> Loaded<Self> {
        Ok(match layout {
            BackboneLayout::Tensors => Self::Tensors(Box::new(ConvNeXt::load(r, config)?)),
            BackboneLayout::ChannelsLast => {
                let trunk = ConvNeXtTrunk::load(r, config)?;
                let stage = config.depths.len() - 1;
                let (depth, dim) = (config.depths[stage], config.dims[stage]);
                let prefix = format!("{BACKBONE}.stages_{stage}.blocks.{}", depth - 1);
                let last_block = Box::new(Block::load(r, &prefix, dim, config.layer_norm_eps)?);
                Self::ChannelsLast { trunk, last_block }
            }
        })
    }

    /// Everything before the last block of the last stage: the part that
    /// prediction and Grad-CAM share.
    pub fn forward_until_last_block(&self, images: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Tensors(convnext) => convnext.forward_until_last_block(images),
            Self::ChannelsLast { trunk, .. } => trunk.forward(images),
        }
    }

    /// The last block of the last stage.
    pub fn last_block(&self) -> &Block {
        match self {
            Self::Tensors(convnext) => convnext.last_block(),
            Self::ChannelsLast { last_block, .. } => last_block,
        }
    }
}
