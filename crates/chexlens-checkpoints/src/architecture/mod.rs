//! The shape of a ConvNeXtWithMetadata network: its config, the hard bounds
//! it must keep, the weights it needs, and how to recognise it from a
//! checkpoint's shapes alone (before any value is read).

mod generated;
mod schema;

use crate::weights::{Expect, StateDict, TensorShapes, WeightError, WeightErrorKind};
use chexlens_chexpert::metadata::Metadata;
pub use generated::generated;
pub use schema::{
    BackboneSpec, BlockSpec, CbamSpec, DownsampleSpec, KeyPath, LayerSpec, Schema, StageSpec, TensorSpec, paths,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// timm's ConvNeXt has four stages.
pub const STAGES: usize = 4;
/// Blocks per stage at most (convnext_xxlarge has 30).
pub const MAX_DEPTH: usize = 64;
/// Channels of any stage, metadata layer or CBAM at most (convnext_xxlarge: 3072).
pub const MAX_WIDTH: usize = 4096;
/// Outputs at most (CheXpert has 14).
pub const MAX_CLASSES: usize = 1024;
/// Parameters of one member at most: 4 GiB of f32, the size of a wasm memory.
pub const MAX_PARAMETERS: u64 = 1 << 30;
/// What the preprocessing and the stem agree on.
pub const IN_CHANNELS: usize = 3;
pub const PATCH_SIZE: usize = 4;

/// What `timm.create_model("convnext_base", features_only=True, depths=.., dims=..)`
/// plus CBAM, the metadata MLP and the classifier are made of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchitectureConfig {
    pub in_channels: usize,
    /// Stem conv kernel and stride.
    pub patch_size: usize,
    pub depths: Vec<usize>,
    pub dims: Vec<usize>,
    /// Hidden channels of CBAM's channel attention (C / reduction).
    pub cbam_hidden: usize,
    /// Kernel of CBAM's spatial attention conv.
    pub spatial_kernel: usize,
    /// Metadata MLP widths, input first: [8, 64, 32].
    pub metadata_widths: Vec<usize>,
    pub num_classes: usize,
    /// ConvNeXt's LayerNorm epsilon (burn's default of 1e-5 would be wrong).
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
}

fn default_eps() -> f64 {
    1e-6
}

/// What is wrong with an architecture, from a manifest or read off weights.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArchitectureError {
    #[error("{found} stages; ConvNeXt has {STAGES}")]
    Stages { found: usize },
    #[error("stage {stage} has {depth} blocks; each stage has 1 to {MAX_DEPTH}")]
    Depth { stage: usize, depth: usize },
    #[error("stage {stage} is {width} channels wide; widths are 1 to {MAX_WIDTH}")]
    Width { stage: usize, width: usize },
    #[error("the stem takes images of {0} channels; chexlens feeds it {IN_CHANNELS} (RGB)")]
    InChannels(usize),
    #[error("the stem's patch is {0} pixels; ConvNeXt's is {PATCH_SIZE}")]
    PatchSize(usize),
    #[error("the metadata MLP must list 3 widths (input, hidden, output), not {0}")]
    MetadataLayers(usize),
    #[error("the metadata MLP takes {0} inputs; the metadata encoding gives {inputs}", inputs = Metadata::INPUTS)]
    MetadataInputs(usize),
    #[error("a metadata layer is {0} wide; widths are 1 to {MAX_WIDTH}")]
    MetadataWidth(usize),
    #[error("{0} outputs; a model has 1 to {MAX_CLASSES}")]
    Classes(usize),
    #[error("CBAM's hidden width is {hidden} for {channels} channels; it must be 1 to {channels}")]
    CbamHidden { hidden: usize, channels: usize },
    #[error("CBAM's spatial kernel is {0}; it must be odd, 1 to 15")]
    SpatialKernel(usize),
    #[error("layer_norm_eps is {0}; it must be a positive number below 0.1")]
    LayerNormEps(f64),
    #[error("it would have {0} parameters; one member may have at most {MAX_PARAMETERS}")]
    TooLarge(u64),
    #[error("the model has {outputs} outputs but {labels} labels are configured")]
    Labels { outputs: usize, labels: usize },
    #[error("'{0}' is missing")]
    MissingKey(String),
    #[error("'{key}' has shape {found:?}, expected {rank} dimensions")]
    Rank {
        key: String,
        found: Vec<usize>,
        rank: usize,
    },
    #[error("'{0}' names a stage or block beyond ConvNeXt's")]
    StrayBlock(String),
}

impl ArchitectureConfig {
    /// The released model: convnext_base with CBAM (reduction 16) and metadata.
    pub fn convnext_base() -> Self {
        Self::with_backbone(vec![3, 3, 27, 3], vec![128, 256, 512, 1024])
    }

    /// The release's head on a backbone of other depths and widths.
    pub fn with_backbone(depths: Vec<usize>, dims: Vec<usize>) -> Self {
        let last = *dims.last().unwrap_or(&16);
        Self {
            in_channels: 3,
            patch_size: 4,
            depths,
            dims,
            cbam_hidden: (last / 16).max(1),
            spatial_kernel: 7,
            metadata_widths: vec![8, 64, 32],
            num_classes: 14,
            layer_norm_eps: default_eps(),
        }
    }

    pub fn feature_channels(&self) -> usize {
        *self.dims.last().unwrap_or(&0)
    }

    pub fn metadata_features(&self) -> usize {
        *self.metadata_widths.last().unwrap_or(&0)
    }

    pub fn metadata_inputs(&self) -> usize {
        self.metadata_widths.first().copied().unwrap_or(0)
    }

    /// Checks the config against the hard bounds before anything is built
    /// or allocated from it.
    pub fn check(&self) -> Result<(), ArchitectureError> {
        use ArchitectureError as E;
        if self.depths.len() != STAGES || self.dims.len() != STAGES {
            return Err(E::Stages {
                found: self.depths.len().max(self.dims.len()),
            });
        }
        for (stage, (&depth, &width)) in self.depths.iter().zip(&self.dims).enumerate() {
            if !(1..=MAX_DEPTH).contains(&depth) {
                return Err(E::Depth { stage, depth });
            }
            if !(1..=MAX_WIDTH).contains(&width) {
                return Err(E::Width { stage, width });
            }
        }
        if self.in_channels != IN_CHANNELS {
            return Err(E::InChannels(self.in_channels));
        }
        if self.patch_size != PATCH_SIZE {
            return Err(E::PatchSize(self.patch_size));
        }
        let [inputs, hidden, output] = self.metadata_widths[..] else {
            return Err(E::MetadataLayers(self.metadata_widths.len()));
        };
        if inputs != Metadata::INPUTS {
            return Err(E::MetadataInputs(inputs));
        }
        if let Some(&w) = [hidden, output].iter().find(|w| !(1..=MAX_WIDTH).contains(*w)) {
            return Err(E::MetadataWidth(w));
        }
        if !(1..=MAX_CLASSES).contains(&self.num_classes) {
            return Err(E::Classes(self.num_classes));
        }
        let channels = self.feature_channels();
        if !(1..=channels).contains(&self.cbam_hidden) {
            return Err(E::CbamHidden {
                hidden: self.cbam_hidden,
                channels,
            });
        }
        if self.spatial_kernel.is_multiple_of(2) || self.spatial_kernel > 15 {
            return Err(E::SpatialKernel(self.spatial_kernel));
        }
        if !(self.layer_norm_eps > 0.0 && self.layer_norm_eps < 0.1) {
            return Err(E::LayerNormEps(self.layer_norm_eps));
        }
        // Every width is bounded above, so this sum cannot overflow a u64.
        let parameters: u64 = self
            .schema()
            .tensors()
            .iter()
            .map(|t| t.shape.iter().map(|&d| d as u64).product::<u64>())
            .sum();
        if parameters > MAX_PARAMETERS {
            return Err(E::TooLarge(parameters));
        }
        Ok(())
    }

    /// Where each weight lives and its shape. The config must have passed
    /// [`Self::check`].
    pub fn schema(&self) -> Schema {
        Schema::new(self)
    }

    /// Every weight the network needs, with its PyTorch name and shape.
    pub fn expected_shapes(&self) -> Vec<(String, Vec<usize>)> {
        self.schema()
            .tensors()
            .into_iter()
            .map(|t| (t.key.clone(), t.shape.clone()))
            .collect()
    }

    /// Reads the architecture off a checkpoint's shapes, so that
    /// convnext_base files and small test files load without a manifest.
    /// One pass over the keys; the result is checked against the bounds.
    pub fn infer(shapes: &TensorShapes) -> Result<Self, ArchitectureError> {
        use ArchitectureError as E;
        let shape = |key: &str| shapes.get(key).copied().ok_or_else(|| E::MissingKey(key.to_owned()));
        let ranked = |key: &str, rank: usize| {
            let found = shape(key)?;
            if found.len() == rank {
                Ok(found)
            } else {
                Err(E::Rank {
                    key: key.to_owned(),
                    found: found.to_vec(),
                    rank,
                })
            }
        };
        let stem = ranked(&paths::stem_conv().key("weight"), 4)?;
        // The deepest block index of each stage, from keys like
        // `convnext_backbone.stages_2.blocks.26.mlp.fc1.weight`.
        let mut last_block: Vec<Option<usize>> = vec![None; STAGES];
        for key in shapes.keys() {
            match paths::parse_block(key) {
                None => {}
                Some(Ok((s, b))) if s < STAGES && b < MAX_DEPTH => last_block[s] = last_block[s].max(Some(b)),
                Some(_) => return Err(E::StrayBlock(key.to_string())),
            }
        }
        let mut depths = Vec::with_capacity(STAGES);
        let mut dims = Vec::with_capacity(STAGES);
        for (s, last) in last_block.iter().enumerate() {
            let gamma_key = paths::block(s, 0).key("gamma");
            let Some(last) = last else {
                return Err(E::MissingKey(gamma_key));
            };
            let gamma = ranked(&gamma_key, 1)?;
            depths.push(last + 1);
            dims.push(gamma[0]);
        }
        let cbam = ranked(&paths::cbam_reduce().key("weight"), 4)?;
        let spatial = ranked(&paths::cbam_spatial().key("weight"), 4)?;
        let fc0 = ranked(&paths::metadata_fc_0().key("weight"), 2)?;
        let fc3 = ranked(&paths::metadata_fc_3().key("weight"), 2)?;
        let classifier = ranked(&paths::classifier().key("weight"), 2)?;
        let config = Self {
            in_channels: stem[1],
            patch_size: stem[2],
            depths,
            dims,
            cbam_hidden: cbam[0],
            spatial_kernel: spatial[3],
            metadata_widths: vec![fc0[1], fc0[0], fc3[0]],
            num_classes: classifier[0],
            layer_norm_eps: default_eps(),
        };
        config.check()?;
        Ok(config)
    }

    /// Checks a checkpoint's keys and shapes against this architecture:
    /// every key present, no unknown keys, every shape right.
    pub fn validate_shapes(&self, shapes: &TensorShapes) -> Result<(), WeightErrorKind> {
        let expected = self.expected_shapes();
        let missing: Vec<String> = expected
            .iter()
            .filter(|(k, _)| !shapes.contains_key(k.as_str()))
            .map(|(k, _)| k.clone())
            .collect();
        if !missing.is_empty() {
            return Err(WeightErrorKind::MissingKeys(missing));
        }
        if shapes.len() > expected.len() {
            let known: std::collections::BTreeSet<&str> = expected.iter().map(|(k, _)| k.as_str()).collect();
            let unexpected = shapes
                .keys()
                .filter(|k| !known.contains(**k))
                .map(|k| k.to_string())
                .collect();
            return Err(WeightErrorKind::UnexpectedKeys(unexpected));
        }
        for (key, shape) in &expected {
            let found = shapes[key.as_str()];
            if found != shape.as_slice() {
                return Err(WeightErrorKind::ShapeMismatch {
                    key: key.clone(),
                    expected: shape.clone(),
                    found: found.to_vec(),
                });
            }
        }
        Ok(())
    }

    /// Checks a read checkpoint against this architecture: keys and shapes,
    /// then every value finite.
    pub fn validate(&self, weights: &StateDict) -> Result<(), WeightError> {
        self.validate_shapes(&weights.shapes())
            .map_err(|kind| weights.error(kind))?;
        weights.check_finite()
    }
}

/// What a member's weight file is checked against before any value is
/// converted: this architecture's keys and shapes, or (`None`) those of a
/// ConvNeXt with metadata of any size, read off the shapes.
pub fn expect(architecture: Option<&ArchitectureConfig>) -> Expect {
    let architecture = architecture.cloned();
    Expect::Shapes(Arc::new(move |shapes| match &architecture {
        Some(architecture) => architecture.validate_shapes(shapes),
        None => ArchitectureConfig::infer(shapes)
            .map_err(|e| WeightErrorKind::Architecture(e.to_string()))?
            .validate_shapes(shapes),
    }))
}

/// Reads one member's weights held whole, checked as [`expect`] says;
/// values are checked when the model is built ([`ArchitectureConfig::validate`]).
pub fn read_weights(
    bytes: &[u8],
    source: &str,
    architecture: Option<&ArchitectureConfig>,
) -> Result<StateDict, WeightError> {
    StateDict::read(bytes, source, expect(architecture))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn convnext_base_has_the_released_parameter_count() {
        let params: usize = ArchitectureConfig::convnext_base()
            .expected_shapes()
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum();
        // timm convnext_base features_only: 87,564,416; CBAM 2*1024*64 + 2*49;
        // metadata 8*64+64 + 64*32+32; classifier 1056*14+14.
        assert_eq!(params, 87_564_416 + 131_072 + 98 + 576 + 2_080 + 14_798);
    }
}
