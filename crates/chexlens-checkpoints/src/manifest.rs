//! The model manifest: which weight files make the ensemble, and every setting
//! that turns their logits into what a user sees.

use crate::architecture::ArchitectureConfig;
use crate::combine::CombineRule;
use chexlens_chexpert::labels::default_labels;
use chexlens_chexpert::metadata::Metadata;
use chexlens_images::preprocess::InputConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const DEFAULT_THRESHOLD: f32 = 0.55;
/// A manifest is a few kB; anything past this is refused before parsing.
pub const MAX_MANIFEST_BYTES: usize = 1 << 20;
/// Members of one ensemble at most (Ensemble_C has 3).
pub const MAX_MEMBERS: usize = 16;
/// Longest name, path or label accepted.
const MAX_TEXT: usize = 2048;
/// The range of `age_scale`: years (1) or a model trained on age / 100 (0.01) fit well inside.
pub const AGE_SCALE_RANGE: std::ops::RangeInclusive<f32> = 1e-4..=10.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberSpec {
    /// A path relative to the manifest, or an http(s) URL.
    pub weights: String,
    /// Hex sha256 of the file; verified before use when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl MemberSpec {
    pub fn is_url(&self) -> bool {
        self.weights.starts_with("https://") || self.weights.starts_with("http://")
    }

    /// The weight file's own name, without any directory or address before
    /// it: how a member is found among files the user picked.
    pub fn file_name(&self) -> &str {
        self.weights.rsplit('/').next().unwrap_or(&self.weights)
    }
}

/// The reference statistics of the members' features (chexlens-reference),
/// for warning on images unlike the radiographs they were computed on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceSpec {
    /// A path relative to the manifest, or an http(s) URL.
    pub file: String,
    /// Hex sha256 of the file, always verified.
    pub sha256: String,
}

impl ReferenceSpec {
    /// The file's own name, as a picked file is matched by.
    pub fn file_name(&self) -> &str {
        self.file.rsplit('/').next().unwrap_or(&self.file)
    }
}

/// Whether a picked file is a manifest rather than weights (by its name).
pub fn is_manifest_file(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".json")
}

/// The name an ensemble without a manifest is shown under: its files'.
pub fn name_from_files<'a>(files: impl IntoIterator<Item = &'a str>) -> String {
    files.into_iter().collect::<Vec<_>>().join(" + ")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    #[serde(default = "default_threshold")]
    pub default: f32,
    /// Per-label overrides, by label name.
    #[serde(default)]
    pub per_label: BTreeMap<String, f32>,
}

fn default_threshold() -> f32 {
    DEFAULT_THRESHOLD
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            default: DEFAULT_THRESHOLD,
            per_label: BTreeMap::new(),
        }
    }
}

impl Thresholds {
    /// The label's own threshold, else the default.
    pub fn for_label(&self, label: &str) -> f32 {
        self.per_label.get(label).copied().unwrap_or(self.default)
    }

    /// These thresholds with another default (the page's slider); the
    /// per-label overrides stay.
    pub fn with_default(&self, default: f32) -> Self {
        Self {
            default,
            per_label: self.per_label.clone(),
        }
    }

    /// Whether `probability` makes `label` a finding.
    pub fn is_finding(&self, label: &str, probability: f32) -> bool {
        probability >= self.for_label(label)
    }

    /// The indices of the labels whose probability makes them findings.
    pub fn finding_indices(&self, labels: &[String], probabilities: &[f32]) -> Vec<usize> {
        labels
            .iter()
            .zip(probabilities)
            .enumerate()
            .filter(|(_, (label, p))| self.is_finding(label, **p))
            .map(|(i, _)| i)
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataSettings {
    #[serde(default)]
    pub defaults: Metadata,
    /// Multiplies age in years before it reaches the model (1 = years as the
    /// reference script feeds them; 0.01 for a model trained on age / 100).
    #[serde(default = "default_age_scale")]
    pub age_scale: f32,
}

fn default_age_scale() -> f32 {
    1.0
}

impl Default for MetadataSettings {
    fn default() -> Self {
        Self {
            defaults: Metadata::default(),
            age_scale: 1.0,
        }
    }
}

/// Everything about a model except its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSettings {
    #[serde(default)]
    pub input: InputConfig,
    #[serde(default = "default_labels")]
    pub labels: Vec<String>,
    #[serde(default)]
    pub thresholds: Thresholds,
    #[serde(default)]
    pub metadata: MetadataSettings,
    #[serde(default)]
    pub combine: CombineRule,
}

impl Default for ModelSettings {
    fn default() -> Self {
        Self {
            input: InputConfig::default(),
            labels: default_labels(),
            thresholds: Thresholds::default(),
            metadata: MetadataSettings::default(),
            combine: CombineRule::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// An untrained demonstration model whose numbers mean nothing.
    #[serde(default)]
    pub demo: bool,
    pub members: Vec<MemberSpec>,
    /// Inferred from the first member's weights when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<ArchitectureConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_statistics: Option<ReferenceSpec>,
    #[serde(flatten)]
    pub settings: ModelSettings,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("model manifest: {0}")]
pub struct ManifestError(pub String);

impl Manifest {
    /// Parses and validates a manifest.
    pub fn from_json(text: &str) -> Result<Self, ManifestError> {
        if text.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError(format!(
                "it is {} bytes; a manifest is at most {MAX_MANIFEST_BYTES}",
                text.len()
            )));
        }
        let manifest: Self = serde_json::from_str(text).map_err(|e| ManifestError(e.to_string()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    pub fn validate(&self) -> Result<(), ManifestError> {
        let fail = |m: String| Err(ManifestError(m));
        if self.members.is_empty() {
            return fail("lists no members".into());
        }
        if self.members.len() > MAX_MEMBERS {
            return fail(format!(
                "lists {} members; an ensemble has at most {MAX_MEMBERS}",
                self.members.len()
            ));
        }
        if self.name.trim().is_empty() || self.name.len() > MAX_TEXT {
            return fail(format!("the name must be 1 to {MAX_TEXT} characters"));
        }
        if self.description.as_ref().is_some_and(|d| d.len() > 16 * MAX_TEXT) {
            return fail("the description is too long".into());
        }
        for m in &self.members {
            if m.weights.trim().is_empty() {
                return fail("a member has an empty 'weights' entry".into());
            }
            if m.weights.len() > MAX_TEXT {
                return fail(format!("a member's 'weights' is longer than {MAX_TEXT} characters"));
            }
            if let Some(h) = &m.sha256
                && (h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()))
            {
                return fail(format!("sha256 of '{}' is not 64 hex digits", m.weights));
            }
        }
        if let Some(reference) = &self.reference_statistics {
            if reference.file.trim().is_empty() || reference.file.len() > MAX_TEXT {
                return fail(format!(
                    "the reference statistics' 'file' must be 1 to {MAX_TEXT} characters"
                ));
            }
            if reference.sha256.len() != 64 || !reference.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
                return fail(format!("sha256 of '{}' is not 64 hex digits", reference.file));
            }
        }
        if let Some(arch) = &self.architecture {
            arch.check().map_err(|e| ManifestError(format!("architecture: {e}")))?;
            if arch.num_classes != self.settings.labels.len() {
                return fail(format!(
                    "{} labels for a model with {} outputs",
                    self.settings.labels.len(),
                    arch.num_classes
                ));
            }
        }
        self.settings.validate()
    }
}

impl ModelSettings {
    pub fn validate(&self) -> Result<(), ManifestError> {
        let fail = |m: String| Err(ManifestError(m));
        let labels = &self.labels;
        if labels.is_empty() || labels.len() > crate::architecture::MAX_CLASSES {
            return fail(format!(
                "{} labels; a model has 1 to {}",
                labels.len(),
                crate::architecture::MAX_CLASSES
            ));
        }
        if let Some(bad) = labels.iter().find(|l| l.trim().is_empty() || l.len() > 200) {
            return fail(format!(
                "label '{}' must be 1 to 200 characters",
                bad.chars().take(40).collect::<String>()
            ));
        }
        let distinct: std::collections::BTreeSet<&String> = labels.iter().collect();
        if distinct.len() != labels.len() {
            return fail("the labels are not distinct".into());
        }
        let t = &self.thresholds;
        if !(0.0..=1.0).contains(&t.default) {
            return fail(format!("default threshold {} is outside 0..1", t.default));
        }
        for (label, v) in &t.per_label {
            if !self.labels.contains(label) {
                return fail(format!("threshold for unknown label '{label}'"));
            }
            if !(0.0..=1.0).contains(v) {
                return fail(format!("threshold {v} for '{label}' is outside 0..1"));
            }
        }
        if !AGE_SCALE_RANGE.contains(&self.metadata.age_scale) {
            return fail(format!(
                "age_scale {} is outside {} to {}",
                self.metadata.age_scale,
                AGE_SCALE_RANGE.start(),
                AGE_SCALE_RANGE.end()
            ));
        }
        if let Some(age) = self.metadata.defaults.age
            && !(0.0..=130.0).contains(&age)
        {
            return fail(format!("the default age {age} is outside 0 to 130 years"));
        }
        let i = &self.input;
        if i.size < 32 || i.size > 2048 {
            return fail(format!("input size {} is outside 32..2048", i.size));
        }
        if i.std.iter().any(|s| !(1e-3..=10.0).contains(s)) || i.mean.iter().any(|m| !(-10.0..=10.0).contains(m)) {
            return fail("input mean must lie in -10..10 and std in 0.001..10".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_manifest_gets_reference_defaults() {
        let m = Manifest::from_json(r#"{"name": "x", "members": [{"weights": "a.safetensors"}]}"#).unwrap();
        assert_eq!(m.settings.thresholds.default, 0.55);
        assert_eq!(m.settings.labels.len(), 14);
        assert_eq!(m.settings.input.size, 384);
        assert_eq!(m.settings.metadata.defaults, Metadata::default());
        assert_eq!(m.settings.combine, CombineRule::MeanProbability);
    }

    #[test]
    fn rejects_bad_manifests_with_reasons() {
        let err = |s: &str| Manifest::from_json(s).unwrap_err().0;
        assert!(err(r#"{"name": "x", "members": []}"#).contains("no members"));
        assert!(err(r#"{"name": "x", "members": [{"weights": "a", "sha256": "zz"}]}"#).contains("64 hex"));
        assert!(
            err(r#"{"name": "x", "members": [{"weights": "a"}], "thresholds": {"per_label": {"Flu": 0.3}}}"#)
                .contains("unknown label 'Flu'")
        );
        assert!(err(r#"{"name": "x", "members": [{"weights": "a"}], "colour": 1}"#).contains("colour"));
        let many: Vec<String> = (0..100_000).map(|i| format!(r#"{{"weights": "m{i}"}}"#)).collect();
        assert!(err(&format!(r#"{{"name": "x", "members": [{}]}}"#, many.join(","))).contains("at most"));
        assert!(
            err(r#"{"name": "x", "members": [{"weights": "a"}], "metadata": {"age_scale": 1e30}}"#)
                .contains("age_scale")
        );
        let arch = |depths: &str, eps: &str| {
            err(&format!(
                r#"{{"name": "x", "members": [{{"weights": "a"}}], "architecture": {{"in_channels": 3, "patch_size": 4,
                "depths": {depths}, "dims": [128, 256, 512, 1024], "cbam_hidden": 64, "spatial_kernel": 7,
                "metadata_widths": [8, 64, 32], "num_classes": 14, "layer_norm_eps": {eps}}}}}"#
            ))
        };
        assert!(arch("[3, 3, 27, 3]", "-1e-6").contains("layer_norm_eps"));
        assert!(arch("[1000000000, 3, 3, 3]", "1e-6").contains("blocks"));
        assert!(arch("[3, 3, 3, 3, 3, 3, 3, 3, 3]", "1e-6").contains("stages"));
    }
}
