//! One image's analysis by an ensemble: the prediction, and each member's
//! backbone state kept so that heat maps run only the layers after
//! Grad-CAM's target. Every value leaves the device through one readback
//! (`read_back`), which fails with a typed error instead of returning zeros.

use crate::ensemble::Ensemble;
use crate::gradcam::{self, CamTarget};
use crate::model::BackboneState;
use burn::tensor::Tensor;
use chexlens_formats::cam::{CamMap, maps_from_raw};
use chexlens_formats::manifest::{ModelSettings, Thresholds};
use chexlens_formats::metadata::Metadata;
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
        chexlens_formats::combine::member_probabilities(&self.member_logits)
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

/// An ensemble's analysis of one image.
pub struct Analysis {
    pub prediction: Prediction,
    /// One per member, from the pass that made the prediction.
    states: Vec<BackboneState>,
}

impl Analysis {
    /// Reads each member's logits back from the backbone passes `states`.
    pub(crate) async fn from_states(
        ensemble: &Ensemble,
        states: Vec<BackboneState>,
        metadata: Tensor<2>,
    ) -> Result<Self, AnalysisError> {
        let mut member_logits = Vec::with_capacity(states.len());
        for (member, state) in ensemble.members.iter().zip(&states) {
            let (values, _) = read_back(member.logits(state, metadata.clone()), "results").await?;
            member_logits.push(values);
        }
        Ok(Self {
            prediction: Prediction::from_member_logits(&ensemble.settings, member_logits),
            states,
        })
    }

    /// Each member's logits for other metadata, from the kept backbone
    /// passes: only the layers after the backbone run again.
    pub async fn member_logits_for(
        &self,
        ensemble: &Ensemble,
        metadata: &Metadata,
    ) -> Result<Vec<Vec<f32>>, AnalysisError> {
        if ensemble.members.len() != self.states.len() {
            return Err(AnalysisError::OtherEnsemble {
                made: self.states.len(),
                given: ensemble.members.len(),
            });
        }
        let input = ensemble.metadata_input(metadata);
        let mut member_logits = Vec::with_capacity(self.states.len());
        for (member, state) in ensemble.members.iter().zip(&self.states) {
            let (values, _) = read_back(member.logits(state, input.clone()), "results").await?;
            member_logits.push(values);
        }
        Ok(member_logits)
    }

    /// Each member's scaled map for each label (`members x labels`), from
    /// the kept states: members run in separate workers combine them where
    /// they meet, with [`CamMap::ensemble_per_label`].
    pub async fn member_heat_maps(
        &self,
        ensemble: &Ensemble,
        labels: &[usize],
        target: CamTarget,
    ) -> Result<Vec<Vec<CamMap>>, AnalysisError> {
        if ensemble.members.len() != self.states.len() {
            return Err(AnalysisError::OtherEnsemble {
                made: self.states.len(),
                given: ensemble.members.len(),
            });
        }
        let classes = self.prediction.labels.len();
        if let Some(&index) = labels.iter().find(|&&i| i >= classes) {
            return Err(AnalysisError::UnknownLabel { index, labels: classes });
        }
        if labels.is_empty() {
            return Ok(Vec::new());
        }
        let mut per_member = Vec::with_capacity(self.states.len());
        for (member, state) in ensemble.members.iter().zip(&self.states) {
            let raw = gradcam::raw_maps(member, state, labels, target);
            let (values, dims) = read_back(raw, "heat maps").await?;
            per_member.push(maps_from_raw(dims, values));
        }
        Ok(per_member)
    }

    /// The ensemble's map for each label: the mean of the members' scaled
    /// maps, scaled again.
    pub async fn heat_maps(
        &self,
        ensemble: &Ensemble,
        labels: &[usize],
        target: CamTarget,
    ) -> Result<Vec<CamMap>, AnalysisError> {
        let per_member = self.member_heat_maps(ensemble, labels, target).await?;
        Ok(CamMap::ensemble_per_label(&per_member))
    }
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
    use burn::tensor::Device;
    use chexlens_formats::architecture::ArchitectureConfig;
    use chexlens_formats::input::XrayImage;
    use chexlens_formats::metadata::Metadata;

    fn ensemble(members: u64) -> Ensemble {
        let config = ArchitectureConfig::with_backbone(vec![1, 1, 1, 1], vec![8, 16, 24, 32]);
        let weights = (0..members)
            .map(|seed| chexlens_formats::architecture::generated(&config, seed))
            .collect();
        let settings = ModelSettings {
            input: chexlens_formats::preprocess::InputConfig {
                size: 64,
                ..Default::default()
            },
            ..Default::default()
        };
        Ensemble::from_state_dicts(weights, Some(config), settings, Device::flex()).unwrap()
    }

    fn image() -> XrayImage {
        XrayImage {
            width: 40,
            height: 30,
            planes: vec![(0..1200).map(|i| (i % 251) as u8).collect()],
        }
    }

    /// The kept pass gives the same maps as a fresh analysis, and the
    /// heat-map calls refuse what they cannot answer with typed errors.
    #[test]
    fn heat_maps_come_from_the_kept_pass_and_refuse_bad_requests() {
        let two = ensemble(2);
        let analysis = wait(two.analyse(&image(), &Metadata::default())).unwrap();
        assert_eq!(analysis.prediction.member_logits.len(), 2);
        let combined = two.settings.combine.combine(&analysis.prediction.member_logits);
        assert_eq!(analysis.prediction.probabilities, combined);
        let maps = wait(analysis.heat_maps(&two, &[0, 13], CamTarget::default())).unwrap();
        assert_eq!(maps.len(), 2);
        let again = wait(two.analyse(&image(), &Metadata::default())).unwrap();
        assert_eq!(
            wait(again.heat_maps(&two, &[0, 13], CamTarget::default())).unwrap(),
            maps
        );

        assert_eq!(
            wait(analysis.heat_maps(&two, &[14], CamTarget::default())).unwrap_err(),
            AnalysisError::UnknownLabel { index: 14, labels: 14 }
        );
        assert_eq!(
            wait(analysis.member_heat_maps(&ensemble(3), &[0], CamTarget::default())).unwrap_err(),
            AnalysisError::OtherEnsemble { made: 2, given: 3 }
        );
        assert!(
            wait(analysis.heat_maps(&two, &[], CamTarget::default()))
                .unwrap()
                .is_empty()
        );
    }

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
