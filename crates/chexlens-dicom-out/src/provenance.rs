//! What produced the numbers (TID 4019's algorithm identification) and
//! each label's result, as the objects record them.

use chexlens_chexpert::metadata::Metadata;
use chexlens_images::cam::CamSettings;
use chexlens_images::preprocess::InputConfig;

/// The algorithm, as TID 4019 identifies it.
#[derive(Debug, Clone, PartialEq)]
pub struct Provenance {
    /// The model's name (its manifest's).
    pub model: String,
    /// chexlens's version.
    pub version: String,
    /// Each member's weights sha256, where known.
    pub member_sha256: Vec<Option<String>>,
    /// The patient metadata the model was given, in words.
    pub metadata: String,
    /// How the image was prepared, in words.
    pub preprocessing: String,
    /// An untrained demonstration model: its numbers mean nothing.
    pub demo: bool,
    /// The heat maps' method and layer, which the captures name.
    pub heat_maps: CamSettings,
}

impl Provenance {
    /// The provenance of a model's result for one image: its name, members'
    /// sha256, the metadata it was given and how the image was prepared.
    pub fn new(
        model: &str,
        demo: bool,
        member_sha256: Vec<Option<String>>,
        metadata: &Metadata,
        input: &InputConfig,
    ) -> Self {
        let word = |v: &dyn std::fmt::Debug| format!("{v:?}").to_lowercase();
        let age = metadata.age.map_or("unknown".to_owned(), |a| a.to_string());
        Self {
            model: model.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            member_sha256,
            metadata: format!(
                "sex {}, age {age}, view {}, projection {}",
                word(&metadata.sex),
                word(&metadata.view),
                word(&metadata.projection)
            ),
            preprocessing: format!(
                "resized to {0}x{0} ({1}), scaled to 0..1, normalised with mean {2} and std {3}",
                input.size,
                word(&input.resize_filter),
                input.mean[0],
                input.std[0]
            ),
            demo,
            heat_maps: CamSettings::default(),
        }
    }

    /// The same, with heat maps made by `settings` (Grad-CAM at the last layer unless said).
    pub fn with_heat_maps(self, settings: CamSettings) -> Self {
        Self {
            heat_maps: settings,
            ..self
        }
    }

    pub(crate) fn algorithm_name(&self) -> String {
        let demo = if self.demo {
            " (untrained demonstration model)"
        } else {
            ""
        };
        format!("chexlens: {}{demo}", self.model)
    }

    /// TID 4019's Algorithm Parameters, one text each.
    pub(crate) fn parameters(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .member_sha256
            .iter()
            .enumerate()
            .map(|(i, sha)| match sha {
                Some(sha) => format!("member {} sha256 {sha}", i + 1),
                None => format!("member {} sha256 not known", i + 1),
            })
            .collect();
        out.push("decision: a label is Present when its probability is at or above its decision threshold".into());
        out.push(format!("metadata: {}", self.metadata));
        out.push(format!("preprocessing: {}", self.preprocessing));
        out
    }
}

/// One label's result.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelResult {
    pub label: String,
    pub probability: f32,
    pub threshold: f32,
}

impl LabelResult {
    pub fn is_finding(&self) -> bool {
        self.probability >= self.threshold
    }
}
