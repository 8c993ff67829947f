//! The ConvNeXt backbone as timm builds it with `features_only=True`:
//! stem, four stages, no final norm. Field names mirror the checkpoint.

use super::channels_last::ConvNeXtTrunk;
use super::gelu::gelu;
use super::layers::{Conv2d, LayerNorm, Linear, Loaded, WeightReader};
use burn::tensor::{Device, Tensor};
use chexlens_checkpoints::architecture::{ArchitectureConfig, BackboneSpec, BlockSpec};

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
    pub fn load(r: &mut WeightReader, spec: &BackboneSpec, config: &ArchitectureConfig) -> Loaded<Self> {
        let eps = config.layer_norm_eps;
        let stem_0 = Conv2d::load(r, &spec.stem_0, config.patch_size, 0, 1)?;
        let stem_1 = LayerNorm::load(r, &spec.stem_1, eps)?;
        let mut stages = Vec::with_capacity(spec.stages.len());
        for stage in &spec.stages {
            let downsample = match &stage.downsample {
                None => None,
                Some(d) => Some(Downsample {
                    norm: LayerNorm::load(r, &d.norm, eps)?,
                    conv: Conv2d::load(r, &d.conv, 2, 0, 1)?,
                }),
            };
            let blocks = stage
                .blocks
                .iter()
                .map(|b| Block::load(r, b, eps))
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
    /// The fused channels-last CPU kernels (`channels_last`), faster than
    /// burn's ops on its CPU backend (README, "Benchmark"); the last block stays
    /// in tensors.
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
    pub fn load(
        r: &mut WeightReader,
        spec: &BackboneSpec,
        config: &ArchitectureConfig,
        layout: BackboneLayout,
    ) -> Loaded<Self> {
        Ok(match layout {
            BackboneLayout::Tensors => Self::Tensors(Box::new(ConvNeXt::load(r, spec, config)?)),
            BackboneLayout::ChannelsLast => {
                let trunk = ConvNeXtTrunk::load(r, spec, config.layer_norm_eps)?;
                let last = spec
                    .last_block()
                    .expect("ArchitectureConfig::check guarantees a stage with blocks");
                let last_block = Box::new(Block::load(r, last, config.layer_norm_eps)?);
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
