//! The shape of a ConvNeXtWithMetadata network: its config, the weights it
//! needs, and how to recognise it from a checkpoint.

use crate::weights::{StateDict, WeightError, WeightErrorKind};
use serde::{Deserialize, Serialize};

pub const BACKBONE: &str = "convnext_backbone";

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

    /// Checks the config itself is coherent before any weights are touched.
    pub fn check(&self) -> Result<(), String> {
        if self.depths.is_empty() || self.depths.len() != self.dims.len() {
            return Err("depths and dims must be non-empty and of equal length".into());
        }
        if self.depths.contains(&0) || self.dims.contains(&0) {
            return Err("depths and dims must be positive".into());
        }
        if self.metadata_widths.len() != 3 {
            return Err("metadata_widths must list three widths (input, hidden, output)".into());
        }
        if self.in_channels == 0 || self.patch_size == 0 || self.num_classes == 0 || self.cbam_hidden == 0 {
            return Err("in_channels, patch_size, num_classes and cbam_hidden must be positive".into());
        }
        if self.spatial_kernel.is_multiple_of(2) {
            return Err("spatial_kernel must be odd".into());
        }
        Ok(())
    }

    /// Every weight the network needs, with its PyTorch name and shape.
    pub fn expected_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let mut shapes = Vec::new();
        let mut add = |name: String, shape: Vec<usize>| shapes.push((name, shape));
        let (p, c0) = (self.patch_size, self.dims[0]);
        add(format!("{BACKBONE}.stem_0.weight"), vec![c0, self.in_channels, p, p]);
        add(format!("{BACKBONE}.stem_0.bias"), vec![c0]);
        add(format!("{BACKBONE}.stem_1.weight"), vec![c0]);
        add(format!("{BACKBONE}.stem_1.bias"), vec![c0]);
        for (s, (&depth, &dim)) in self.depths.iter().zip(&self.dims).enumerate() {
            let stage = format!("{BACKBONE}.stages_{s}");
            if s > 0 {
                let prev = self.dims[s - 1];
                add(format!("{stage}.downsample.0.weight"), vec![prev]);
                add(format!("{stage}.downsample.0.bias"), vec![prev]);
                add(format!("{stage}.downsample.1.weight"), vec![dim, prev, 2, 2]);
                add(format!("{stage}.downsample.1.bias"), vec![dim]);
            }
            for b in 0..depth {
                let block = format!("{stage}.blocks.{b}");
                add(format!("{block}.gamma"), vec![dim]);
                add(format!("{block}.conv_dw.weight"), vec![dim, 1, 7, 7]);
                add(format!("{block}.conv_dw.bias"), vec![dim]);
                add(format!("{block}.norm.weight"), vec![dim]);
                add(format!("{block}.norm.bias"), vec![dim]);
                add(format!("{block}.mlp.fc1.weight"), vec![4 * dim, dim]);
                add(format!("{block}.mlp.fc1.bias"), vec![4 * dim]);
                add(format!("{block}.mlp.fc2.weight"), vec![dim, 4 * dim]);
                add(format!("{block}.mlp.fc2.bias"), vec![dim]);
            }
        }
        let c = self.feature_channels();
        add(
            "cbam.channel_attention.1.weight".into(),
            vec![self.cbam_hidden, c, 1, 1],
        );
        add(
            "cbam.channel_attention.3.weight".into(),
            vec![c, self.cbam_hidden, 1, 1],
        );
        let k = self.spatial_kernel;
        add("cbam.spatial_attention.0.weight".into(), vec![1, 2, k, k]);
        let m = &self.metadata_widths;
        add("metadata_fc.0.weight".into(), vec![m[1], m[0]]);
        add("metadata_fc.0.bias".into(), vec![m[1]]);
        add("metadata_fc.3.weight".into(), vec![m[2], m[1]]);
        add("metadata_fc.3.bias".into(), vec![m[2]]);
        add("classifier.weight".into(), vec![self.num_classes, c + m[2]]);
        add("classifier.bias".into(), vec![self.num_classes]);
        shapes
    }

    /// Reads the architecture off a checkpoint's shapes, so that convnext_base
    /// files and small test files load without a manifest.
    pub fn infer(weights: &StateDict) -> Result<Self, WeightError> {
        let fail = |m: String| weights.error(WeightErrorKind::Architecture(m));
        let shape = |key: &str| {
            weights
                .get(key)
                .map(|t| t.shape.clone())
                .ok_or_else(|| fail(format!("'{key}' is missing")))
        };
        let stem = shape(&format!("{BACKBONE}.stem_0.weight"))?;
        let [_, in_channels, patch_size, _] = stem[..] else {
            return Err(fail(format!("stem_0.weight has shape {stem:?}, expected 4 dimensions")));
        };
        let mut depths = Vec::new();
        let mut dims = Vec::new();
        for s in 0.. {
            let prefix = format!("{BACKBONE}.stages_{s}.blocks.");
            let blocks = weights
                .tensors
                .keys()
                .filter_map(|k| k.strip_prefix(&prefix)?.split('.').next()?.parse::<usize>().ok())
                .max();
            let Some(last) = blocks else { break };
            let gamma = shape(&format!("{prefix}0.gamma"))?;
            depths.push(last + 1);
            dims.push(gamma[0]);
        }
        if depths.is_empty() {
            return Err(fail("no backbone stages found".into()));
        }
        let cbam = shape("cbam.channel_attention.1.weight")?;
        let spatial = shape("cbam.spatial_attention.0.weight")?;
        let fc0 = shape("metadata_fc.0.weight")?;
        let fc3 = shape("metadata_fc.3.weight")?;
        let classifier = shape("classifier.weight")?;
        let (Some(&cbam_hidden), Some(&spatial_kernel), [h, i], [o, _], Some(&num_classes)) = (
            cbam.first(),
            spatial.last(),
            fc0.as_slice(),
            fc3.as_slice(),
            classifier.first(),
        ) else {
            return Err(fail("head weights have unexpected ranks".into()));
        };
        let config = Self {
            in_channels,
            patch_size,
            depths,
            dims,
            cbam_hidden,
            spatial_kernel,
            metadata_widths: vec![*i, *h, *o],
            num_classes,
            layer_norm_eps: default_eps(),
        };
        config.check().map_err(fail)?;
        Ok(config)
    }

    /// Checks a checkpoint against this architecture: every key present, no
    /// unknown keys, every shape right, every value finite.
    pub fn validate(&self, weights: &StateDict) -> Result<(), WeightError> {
        let expected = self.expected_shapes();
        let missing: Vec<String> = expected
            .iter()
            .filter(|(k, _)| !weights.tensors.contains_key(k))
            .map(|(k, _)| k.clone())
            .collect();
        if !missing.is_empty() {
            return Err(weights.error(WeightErrorKind::MissingKeys(missing)));
        }
        let unexpected: Vec<String> = weights
            .tensors
            .keys()
            .filter(|k| !expected.iter().any(|(e, _)| e == *k))
            .cloned()
            .collect();
        if !unexpected.is_empty() {
            return Err(weights.error(WeightErrorKind::UnexpectedKeys(unexpected)));
        }
        for (key, shape) in &expected {
            let tensor = &weights.tensors[key];
            if &tensor.shape != shape {
                return Err(weights.error(WeightErrorKind::ShapeMismatch {
                    key: key.clone(),
                    expected: shape.clone(),
                    found: tensor.shape.clone(),
                }));
            }
            let count = tensor.data.iter().filter(|v| !v.is_finite()).count();
            if count > 0 {
                return Err(weights.error(WeightErrorKind::NonFinite {
                    key: key.clone(),
                    count,
                }));
            }
        }
        Ok(())
    }
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
