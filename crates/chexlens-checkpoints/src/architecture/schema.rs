//! Where each weight of a ConvNeXtWithMetadata lives in its checkpoint and
//! what shape it has: the one place a checkpoint key is spelled. The tree
//! mirrors the PyTorch modules (`convnext_backbone.stages_2.blocks.26.mlp.fc1`);
//! `KeyPath` scopes names as candle's VarBuilder does. Validation, the
//! architecture read off a checkpoint, generated test weights and both of
//! the model's builders read their keys from here.

use super::ArchitectureConfig;
use std::fmt::Display;

/// A dotted prefix in the state dict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPath(String);

impl KeyPath {
    pub fn root(name: &str) -> Self {
        Self(name.to_owned())
    }

    /// The path one module further down.
    pub fn pp(&self, name: impl Display) -> Self {
        Self(format!("{}.{name}", self.0))
    }

    /// The full key of a tensor under this path.
    pub fn key(&self, leaf: &str) -> String {
        format!("{}.{leaf}", self.0)
    }

    fn tensor(&self, leaf: &str, shape: Vec<usize>) -> TensorSpec {
        TensorSpec {
            key: self.key(leaf),
            shape,
        }
    }
}

/// One tensor of the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    pub key: String,
    pub shape: Vec<usize>,
}

/// A layer's `weight` and, for most layers, `bias`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSpec {
    pub weight: TensorSpec,
    pub bias: Option<TensorSpec>,
}

impl LayerSpec {
    /// `nn.Linear(inputs, outputs)`: weight `[out, in]`.
    fn linear(path: &KeyPath, inputs: usize, outputs: usize) -> Self {
        Self {
            weight: path.tensor("weight", vec![outputs, inputs]),
            bias: Some(path.tensor("bias", vec![outputs])),
        }
    }

    /// `nn.Conv2d`: weight `[out, in / groups, k, k]`.
    fn conv(path: &KeyPath, outputs: usize, inputs_per_group: usize, kernel: usize, bias: bool) -> Self {
        Self {
            weight: path.tensor("weight", vec![outputs, inputs_per_group, kernel, kernel]),
            bias: bias.then(|| path.tensor("bias", vec![outputs])),
        }
    }

    /// `nn.LayerNorm(dim)` (and timm's LayerNorm2d).
    fn norm(path: &KeyPath, dim: usize) -> Self {
        Self {
            weight: path.tensor("weight", vec![dim]),
            bias: Some(path.tensor("bias", vec![dim])),
        }
    }

    fn tensors(&self) -> impl Iterator<Item = &TensorSpec> {
        std::iter::once(&self.weight).chain(&self.bias)
    }
}

/// timm's ConvNeXt block: `conv_dw`, `norm`, `mlp.fc1`, `mlp.fc2`, `gamma`.
#[derive(Debug, Clone)]
pub struct BlockSpec {
    pub conv_dw: LayerSpec,
    pub norm: LayerSpec,
    pub fc1: LayerSpec,
    pub fc2: LayerSpec,
    /// Layer scale.
    pub gamma: TensorSpec,
}

/// `downsample.0` (LayerNorm2d) and `downsample.1` (2x2 conv, stride 2).
#[derive(Debug, Clone)]
pub struct DownsampleSpec {
    pub norm: LayerSpec,
    pub conv: LayerSpec,
}

#[derive(Debug, Clone)]
pub struct StageSpec {
    /// Every stage but the first.
    pub downsample: Option<DownsampleSpec>,
    pub blocks: Vec<BlockSpec>,
}

/// `convnext_backbone`: `stem_0` (patch conv), `stem_1` (LayerNorm2d), stages.
#[derive(Debug, Clone)]
pub struct BackboneSpec {
    pub stem_0: LayerSpec,
    pub stem_1: LayerSpec,
    pub stages: Vec<StageSpec>,
}

impl BackboneSpec {
    /// The last block of the last stage: Grad-CAM's target, which both
    /// builders keep in tensors.
    pub fn last_block(&self) -> Option<&BlockSpec> {
        self.stages.last()?.blocks.last()
    }
}

/// `cbam`: channel attention from two 1x1 convs, spatial attention from one k x k.
#[derive(Debug, Clone)]
pub struct CbamSpec {
    pub channel_attention_1: LayerSpec,
    pub channel_attention_3: LayerSpec,
    pub spatial_attention_0: LayerSpec,
}

/// Every weight of one member, by module.
#[derive(Debug, Clone)]
pub struct Schema {
    pub convnext_backbone: BackboneSpec,
    pub cbam: CbamSpec,
    pub metadata_fc_0: LayerSpec,
    pub metadata_fc_3: LayerSpec,
    pub classifier: LayerSpec,
}

/// The module paths, for code that reads keys before a config exists.
pub mod paths {
    use super::KeyPath;

    pub fn backbone() -> KeyPath {
        KeyPath::root("convnext_backbone")
    }

    pub fn stem_conv() -> KeyPath {
        backbone().pp("stem_0")
    }

    pub fn stem_norm() -> KeyPath {
        backbone().pp("stem_1")
    }

    pub fn stage(stage: usize) -> KeyPath {
        backbone().pp(format!("stages_{stage}"))
    }

    pub fn block(stage: usize, block: usize) -> KeyPath {
        self::stage(stage).pp("blocks").pp(block)
    }

    /// `(stage, block)` of a key under a block (`convnext_backbone.stages_2.blocks.26.…`);
    /// `None` for keys outside the stages' blocks, `Some(Err)` for a key
    /// that names a block but no numbers.
    pub fn parse_block(key: &str) -> Option<Result<(usize, usize), ()>> {
        let rest = key.strip_prefix(&backbone().key("stages_"))?;
        let (stage, rest) = rest.split_once('.').unwrap_or((rest, ""));
        let block = rest.strip_prefix("blocks.")?;
        let block = block.split('.').next().unwrap_or_default();
        Some(match (stage.parse(), block.parse()) {
            (Ok(s), Ok(b)) => Ok((s, b)),
            _ => Err(()),
        })
    }

    pub fn cbam_reduce() -> KeyPath {
        KeyPath::root("cbam").pp("channel_attention.1")
    }

    pub fn cbam_expand() -> KeyPath {
        KeyPath::root("cbam").pp("channel_attention.3")
    }

    pub fn cbam_spatial() -> KeyPath {
        KeyPath::root("cbam").pp("spatial_attention.0")
    }

    pub fn metadata_fc_0() -> KeyPath {
        KeyPath::root("metadata_fc").pp(0)
    }

    pub fn metadata_fc_3() -> KeyPath {
        KeyPath::root("metadata_fc").pp(3)
    }

    pub fn classifier() -> KeyPath {
        KeyPath::root("classifier")
    }
}

impl Schema {
    /// The weights `config` needs. The config must have passed
    /// [`ArchitectureConfig::check`] (four stages, three metadata widths).
    pub fn new(config: &ArchitectureConfig) -> Self {
        let dims = &config.dims;
        let stages = config
            .depths
            .iter()
            .zip(dims)
            .enumerate()
            .map(|(s, (&depth, &dim))| StageSpec {
                downsample: (s > 0).then(|| {
                    let path = paths::stage(s);
                    DownsampleSpec {
                        norm: LayerSpec::norm(&path.pp("downsample.0"), dims[s - 1]),
                        conv: LayerSpec::conv(&path.pp("downsample.1"), dim, dims[s - 1], 2, true),
                    }
                }),
                blocks: (0..depth).map(|b| block(&paths::block(s, b), dim)).collect(),
            })
            .collect();
        let (c0, p) = (dims[0], config.patch_size);
        let features = config.feature_channels();
        let m = &config.metadata_widths;
        let k = config.spatial_kernel;
        Self {
            convnext_backbone: BackboneSpec {
                stem_0: LayerSpec::conv(&paths::stem_conv(), c0, config.in_channels, p, true),
                stem_1: LayerSpec::norm(&paths::stem_norm(), c0),
                stages,
            },
            cbam: CbamSpec {
                channel_attention_1: LayerSpec::conv(&paths::cbam_reduce(), config.cbam_hidden, features, 1, false),
                channel_attention_3: LayerSpec::conv(&paths::cbam_expand(), features, config.cbam_hidden, 1, false),
                spatial_attention_0: LayerSpec::conv(&paths::cbam_spatial(), 1, 2, k, false),
            },
            metadata_fc_0: LayerSpec::linear(&paths::metadata_fc_0(), m[0], m[1]),
            metadata_fc_3: LayerSpec::linear(&paths::metadata_fc_3(), m[1], m[2]),
            classifier: LayerSpec::linear(&paths::classifier(), features + m[2], config.num_classes),
        }
    }

    /// Every tensor, in the checkpoint's order.
    pub fn tensors(&self) -> Vec<&TensorSpec> {
        let backbone = &self.convnext_backbone;
        let mut all: Vec<&TensorSpec> = backbone.stem_0.tensors().chain(backbone.stem_1.tensors()).collect();
        for stage in &backbone.stages {
            if let Some(d) = &stage.downsample {
                all.extend(d.norm.tensors().chain(d.conv.tensors()));
            }
            for b in &stage.blocks {
                all.push(&b.gamma);
                all.extend(
                    [&b.conv_dw, &b.norm, &b.fc1, &b.fc2]
                        .into_iter()
                        .flat_map(LayerSpec::tensors),
                );
            }
        }
        let cbam = &self.cbam;
        let head = [
            &cbam.channel_attention_1,
            &cbam.channel_attention_3,
            &cbam.spatial_attention_0,
            &self.metadata_fc_0,
            &self.metadata_fc_3,
            &self.classifier,
        ];
        all.extend(head.into_iter().flat_map(LayerSpec::tensors));
        all
    }
}

/// A block of `dim` channels: depthwise 7x7, LayerNorm, MLP of 4x width.
fn block(path: &KeyPath, dim: usize) -> BlockSpec {
    BlockSpec {
        conv_dw: LayerSpec::conv(&path.pp("conv_dw"), dim, 1, 7, true),
        norm: LayerSpec::norm(&path.pp("norm"), dim),
        fc1: LayerSpec::linear(&path.pp("mlp.fc1"), dim, 4 * dim),
        fc2: LayerSpec::linear(&path.pp("mlp.fc2"), 4 * dim, dim),
        gamma: path.tensor("gamma", vec![dim]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_mirror_the_pytorch_module_tree() {
        let schema = Schema::new(&ArchitectureConfig::convnext_base());
        let block = &schema.convnext_backbone.stages[2].blocks[26];
        assert_eq!(
            block.fc1.weight.key,
            "convnext_backbone.stages_2.blocks.26.mlp.fc1.weight"
        );
        assert_eq!(block.fc1.weight.shape, [2048, 512]);
        assert_eq!(block.gamma.key, "convnext_backbone.stages_2.blocks.26.gamma");
        let down = schema.convnext_backbone.stages[1].downsample.as_ref().unwrap();
        assert_eq!(down.conv.weight.key, "convnext_backbone.stages_1.downsample.1.weight");
        assert_eq!(down.conv.weight.shape, [256, 128, 2, 2]);
        assert_eq!(
            schema.cbam.channel_attention_1.weight.key,
            "cbam.channel_attention.1.weight"
        );
        assert!(schema.cbam.spatial_attention_0.bias.is_none());
        assert_eq!(schema.metadata_fc_3.bias.as_ref().unwrap().key, "metadata_fc.3.bias");
        assert_eq!(schema.classifier.weight.shape, [14, 1024 + 32]);
    }

    #[test]
    fn block_keys_parse_back() {
        let key = paths::block(2, 26).key("mlp.fc1.weight");
        assert_eq!(paths::parse_block(&key), Some(Ok((2, 26))));
        assert_eq!(
            paths::parse_block("convnext_backbone.stages_x.blocks.1.gamma"),
            Some(Err(()))
        );
        assert_eq!(paths::parse_block(&paths::stem_conv().key("weight")), None);
        assert_eq!(
            paths::parse_block("convnext_backbone.stages_1.downsample.0.weight"),
            None
        );
    }
}
