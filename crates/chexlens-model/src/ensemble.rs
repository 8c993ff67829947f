//! Ensembles of ConvNeXtWithMetadata members and the rule that combines them.

use crate::architecture::{ArchitectureConfig, ArchitectureError};
pub use crate::combine::{CombineRule, sigmoid};
use crate::manifest::{ModelSettings, Thresholds};
use crate::metadata::Metadata;
use crate::model::{BackboneState, ConvNeXtWithMetadata};
use crate::preprocess::XrayImage;
use crate::weights::{StateDict, WeightError, WeightErrorKind};
use burn::tensor::{Device, Tensor, TensorData};
use serde::Serialize;

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
    /// Labels at or above their threshold, most probable first.
    pub fn findings(&self, thresholds: &Thresholds) -> Vec<Finding> {
        let mut found: Vec<Finding> = self
            .labels
            .iter()
            .zip(&self.probabilities)
            .filter(|(label, p)| **p >= thresholds.for_label(label))
            .map(|(label, &probability)| Finding {
                label: label.clone(),
                probability,
            })
            .collect();
        found.sort_by(|a, b| b.probability.total_cmp(&a.probability));
        found
    }
}

pub struct Ensemble {
    pub members: Vec<ConvNeXtWithMetadata>,
    pub settings: ModelSettings,
    pub device: Device,
}

impl Ensemble {
    /// Builds an ensemble; without an architecture it is read off the first member.
    pub fn from_state_dicts(
        members: Vec<StateDict>,
        architecture: Option<ArchitectureConfig>,
        settings: ModelSettings,
        device: Device,
    ) -> Result<Self, WeightError> {
        let Some(first) = members.first() else {
            return Err(WeightError::new(
                "ensemble",
                WeightErrorKind::NoStateDict("no members given".into()),
            ));
        };
        let architecture = match architecture {
            Some(a) => a,
            None => {
                ArchitectureConfig::infer(&first.shapes()).map_err(|e| first.error(WeightErrorKind::Architecture(e)))?
            }
        };
        if architecture.num_classes != settings.labels.len() {
            return Err(first.error(WeightErrorKind::Architecture(ArchitectureError::Labels {
                outputs: architecture.num_classes,
                labels: settings.labels.len(),
            })));
        }
        let members = members
            .into_iter()
            .map(|weights| ConvNeXtWithMetadata::from_state_dict(architecture.clone(), weights, &device))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            members,
            settings,
            device,
        })
    }

    pub fn architecture(&self) -> &ArchitectureConfig {
        &self.members[0].config
    }

    /// The model inputs for one image: `[1, 3, S, S]` and `[1, 8]`.
    pub fn inputs(&self, image: &XrayImage, metadata: &Metadata) -> (Tensor<4>, Tensor<2>) {
        let size = self.settings.input.size;
        let pixels = self.settings.input.prepare(image);
        self.inputs_from_normalised(pixels, size, metadata)
    }

    pub fn inputs_from_normalised(&self, pixels: Vec<f32>, size: usize, metadata: &Metadata) -> (Tensor<4>, Tensor<2>) {
        let encoded = metadata.encode(self.settings.metadata.age_scale).to_vec();
        let meta_len = encoded.len();
        (
            Tensor::from_data(TensorData::new(pixels, [1, 3, size, size]), &self.device),
            Tensor::from_data(TensorData::new(encoded, [1, meta_len]), &self.device),
        )
    }

    /// Each member's pass over the images: computed once per image and
    /// shared by prediction and Grad-CAM.
    pub fn backbone_states(&self, images: &Tensor<4>) -> Vec<BackboneState> {
        self.members.iter().map(|m| m.backbone_state(images.clone())).collect()
    }

    /// Each member's logits `[1, classes]` from its state, still on the device.
    pub fn member_logit_tensors(&self, states: &[BackboneState], metadata: &Tensor<2>) -> Vec<Tensor<2>> {
        self.members
            .iter()
            .zip(states)
            .map(|(m, state)| m.logits(state, metadata.clone()))
            .collect()
    }

    /// Turns read-back member logits into a prediction.
    pub fn prediction_from_logits(&self, member_logits: Vec<Vec<f32>>) -> Prediction {
        Prediction {
            labels: self.settings.labels.clone(),
            probabilities: self.settings.combine.combine(&member_logits),
            member_logits,
        }
    }

    /// Predicts from model inputs, reading back synchronously (native backends).
    pub fn predict_inputs(&self, images: Tensor<4>, metadata: Tensor<2>) -> Prediction {
        self.predict_states(&self.backbone_states(&images), &metadata)
    }

    /// Predicts from the members' backbone states (native backends).
    pub fn predict_states(&self, states: &[BackboneState], metadata: &Tensor<2>) -> Prediction {
        let logits = self
            .member_logit_tensors(states, metadata)
            .into_iter()
            .map(|t| t.into_data().try_to_vec::<f32>().unwrap_or_default())
            .collect();
        self.prediction_from_logits(logits)
    }

    /// Predicts from the members' backbone states, reading back asynchronously
    /// (required on WebGPU).
    pub async fn predict_states_async(
        &self,
        states: &[BackboneState],
        metadata: &Tensor<2>,
    ) -> Result<Prediction, String> {
        let mut logits = Vec::with_capacity(self.members.len());
        for tensor in self.member_logit_tensors(states, metadata) {
            let data = tensor
                .into_data_async()
                .await
                .map_err(|e| format!("reading results back failed: {e:?}"))?;
            logits.push(
                data.try_to_vec::<f32>()
                    .map_err(|e| format!("unexpected result type: {e:?}"))?,
            );
        }
        Ok(self.prediction_from_logits(logits))
    }

    /// Decoded image in, prediction out (native backends).
    pub fn predict(&self, image: &XrayImage, metadata: &Metadata) -> Prediction {
        let (images, meta) = self.inputs(image, metadata);
        self.predict_inputs(images, meta)
    }
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
        t.per_label.insert("A".into(), 0.7);
        assert_eq!(p.findings(&t).len(), 2);
    }
}
