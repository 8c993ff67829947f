//! One image's analysis by an ensemble: the prediction, and each member's
//! backbone state kept so that heat maps run only the layers after
//! Grad-CAM's target. Every value leaves the device through one readback
//! (`read_back`), which fails with a typed error instead of returning zeros.

use crate::model::BackboneState;
use burn::tensor::Tensor;
use chexlens_checkpoints::manifest::{ModelSettings, Thresholds};
use serde::Serialize;
use std::future::Future;

/// Why an analysis or its heat maps could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnalysisError {
    #[error("reading the {what} back from the device failed ({detail})")]
    Readback { what: &'static str, detail: String },
    #[error("the {what} came back as {found}, not f32")]
    ResultType { what: &'static str, found: String },
    #[error("this platform cannot wait for the device; use the asynchronous calls")]
    CannotBlock,
    #[error("the analysis was made by {made} members but {given} were given")]
    OtherEnsemble { made: usize, given: usize },
    #[error("this model has no {layer} layer to explain (it needs at least two stages)")]
    NoSuchLayer { layer: &'static str },
    #[error("member {index} is not one of the ensemble's {members} members")]
    UnknownMember { index: usize, members: usize },
    #[error("label {index} is not one of the model's {labels} labels")]
    UnknownLabel { index: usize, labels: usize },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub label: String,
    pub probability: f32,
}

/// One image's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub labels: Vec<String>,
    /// Combined probability per label, in model order.
    pub probabilities: Vec<f32>,
    /// Each member's logits.
    pub member_logits: Vec<Vec<f32>>,
}

impl Prediction {
    /// The ensemble's prediction from each member's logits, by the settings' rule.
    pub fn from_member_logits(settings: &ModelSettings, member_logits: Vec<Vec<f32>>) -> Self {
        Self {
            labels: settings.labels.clone(),
            probabilities: settings.combine.combine(&member_logits),
            member_logits,
        }
    }

    /// Each member's probabilities (sigmoid of its logits), members x labels.
    pub fn member_probabilities(&self) -> Vec<Vec<f32>> {
        chexlens_checkpoints::combine::member_probabilities(&self.member_logits)
    }

    /// The indices of the labels at or above their threshold, in model order.
    pub fn finding_indices(&self, thresholds: &Thresholds) -> Vec<usize> {
        thresholds.finding_indices(&self.labels, &self.probabilities)
    }

    /// Labels at or above their threshold, most probable first.
    pub fn findings(&self, thresholds: &Thresholds) -> Vec<Finding> {
        let mut found: Vec<Finding> = self
            .finding_indices(thresholds)
            .into_iter()
            .map(|i| Finding {
                label: self.labels[i].clone(),
                probability: self.probabilities[i],
            })
            .collect();
        found.sort_by(|a, b| b.probability.total_cmp(&a.probability));
        found
    }
}

/// An ensemble's analysis of one image: its prediction, and each member's
/// backbone pass, kept for heat maps and other metadata (the questions
/// asked of it are [`crate::Ensemble`]'s methods, which hold the members).
pub struct Analysis {
    pub prediction: Prediction,
    /// Each member's pooled features of the image (what its classifier
    /// sees besides the metadata), for the distance to reference radiographs.
    pub member_features: Vec<Vec<f32>>,
    /// One per member, from the pass that made the prediction.
    pub(crate) states: Vec<BackboneState>,
}

/// A tensor's values and shape, read off its device: the one way values
/// leave it.
pub async fn read_back<const D: usize>(
    tensor: Tensor<D>,
    what: &'static str,
) -> Result<(Vec<f32>, [usize; D]), AnalysisError> {
    let dims = tensor.dims();
    let data = tensor.into_data_async().await.map_err(|e| AnalysisError::Readback {
        what,
        detail: format!("{e:?}"),
    })?;
    let found = format!("{:?}", data.dtype());
    let values = data
        .try_into_vec::<f32>()
        .map_err(|_| AnalysisError::ResultType { what, found })?;
    Ok((values, dims))
}

/// Waits for one of the asynchronous calls above on a native backend,
/// where the device can be waited for; in a browser they must be awaited.
pub fn wait<T>(future: impl Future<Output = Result<T, AnalysisError>>) -> Result<T, AnalysisError> {
    burn::tensor::try_read_sync(future).unwrap_or(Err(AnalysisError::CannotBlock))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_honour_per_label_thresholds_and_sort() {
        let p = Prediction {
            labels: vec!["A".into(), "B".into(), "C".into()],
            probabilities: vec![0.6, 0.9, 0.4],
            member_logits: vec![],
        };
        let mut t = Thresholds::default();
        t.per_label.insert("C".into(), 0.3);
        let f = p.findings(&t);
        assert_eq!(f.iter().map(|f| f.label.as_str()).collect::<Vec<_>>(), ["B", "A", "C"]);
        assert_eq!(p.finding_indices(&t), [0, 1, 2]);
        t.per_label.insert("A".into(), 0.7);
        assert_eq!(p.findings(&t).len(), 2);
        assert_eq!(p.finding_indices(&t), [1, 2]);
    }
}
