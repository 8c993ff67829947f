//! The ConvNeXt backbone as timm builds it with `features_only=True`:
//! stem, four stages, no final norm. Field names mirror the checkpoint.

use super::block::{Block, Downsample, PreviousStageTail, TrunkOutput};
use super::channels_last::ConvNeXtTrunk;
use super::layers::{Conv2d, LayerNorm, Loaded, WeightReader};
use burn::tensor::{Device, Tensor};
use chexlens_checkpoints::architecture::{ArchitectureConfig, BackboneSpec};

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
    pub fn forward_until_last_block(&self, x: Tensor<4>) -> TrunkOutput {
        let mut x = self.stem(x);
        let mut previous_stage_block_input = None;
        let last_stage = self.stages.len() - 1;
        for (s, stage) in self.stages.iter().enumerate() {
            x = stage.downsample_input(x);
            let blocks = if s == last_stage {
                &stage.blocks[..stage.blocks.len() - 1]
            } else {
                &stage.blocks[..]
            };
            for (b, block) in blocks.iter().enumerate() {
                if s + 1 == last_stage && b + 1 == blocks.len() {
                    previous_stage_block_input = Some(x.clone());
                }
                x = block.forward(x);
            }
        }
        TrunkOutput {
            before_last_block: x,
            previous_stage_block_input,
        }
    }

    /// The layers from the previous stage's last block to the last block.
    pub fn previous_stage_tail(&self) -> Option<PreviousStageTail> {
        let [.., previous, last] = &self.stages[..] else {
            return None;
        };
        Some(PreviousStageTail {
            block: previous.blocks.last()?.clone(),
            downsample: last.downsample.clone(),
            blocks: last.blocks[..last.blocks.len() - 1].to_vec(),
        })
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
    pub fn forward_until_last_block(&self, images: Tensor<4>) -> TrunkOutput {
        match self {
            Self::Tensors(convnext) => convnext.forward_until_last_block(images),
            Self::ChannelsLast { trunk, .. } => trunk.forward(images),
        }
    }

    /// The layers from the previous stage's last block to the last block,
    /// as tensors (converted from the fused kernels' layout on request).
    pub fn previous_stage_tail(&self) -> Option<PreviousStageTail> {
        match self {
            Self::Tensors(convnext) => convnext.previous_stage_tail(),
            Self::ChannelsLast { trunk, last_block } => trunk.previous_stage_tail(&last_block.gamma.device()),
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
