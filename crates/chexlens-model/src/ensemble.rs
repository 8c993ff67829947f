//! Ensembles of ConvNeXtWithMetadata members and their inputs; what they
//! make of an image is an [`crate::Analysis`], and the questions asked of
//! it later (other metadata, heat maps) are the ensemble's to answer.

use crate::analysis::{Analysis, AnalysisError, Prediction, read_back};
use crate::faithfulness::{self, Scope};
use crate::gradcam::{self, CamSettings};
use crate::model::BackboneState;
use crate::model::ConvNeXtWithMetadata;
use burn::tensor::{Device, Tensor, TensorData};
use chexlens_checkpoints::architecture::{ArchitectureConfig, ArchitectureError};
use chexlens_checkpoints::manifest::ModelSettings;
use chexlens_checkpoints::weights::{StateDict, WeightError, WeightErrorKind};
use chexlens_chexpert::metadata::Metadata;
use chexlens_images::cam::{CamMap, maps_from_raw};
use chexlens_images::faithfulness::Faithfulness;
use chexlens_images::image::XrayImage;

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
            None => ArchitectureConfig::infer(&first.shapes())
                .map_err(|e| first.error(WeightErrorKind::Architecture(e.to_string())))?,
        };
        if architecture.num_classes != settings.labels.len() {
            let mismatch = ArchitectureError::Labels {
                outputs: architecture.num_classes,
                labels: settings.labels.len(),
            };
            return Err(first.error(WeightErrorKind::Architecture(mismatch.to_string())));
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
        (
            Tensor::from_data(TensorData::new(pixels, [1, 3, size, size]), &self.device),
            self.metadata_input(metadata),
        )
    }

    /// The metadata input `[1, 8]`, encoded by the settings' rule.
    pub fn metadata_input(&self, metadata: &Metadata) -> Tensor<2> {
        let encoded = metadata.encode(self.settings.metadata.age_scale).to_vec();
        let meta_len = encoded.len();
        Tensor::from_data(TensorData::new(encoded, [1, meta_len]), &self.device)
    }

    /// Runs every member over one decoded image.
    pub async fn analyse(&self, image: &XrayImage, metadata: &Metadata) -> Result<Analysis, AnalysisError> {
        let (images, meta) = self.inputs(image, metadata);
        self.analyse_inputs(images, meta).await
    }

    /// Runs every member over prepared inputs (`[1, 3, S, S]`, `[1, 8]`).
    pub async fn analyse_inputs(&self, images: Tensor<4>, metadata: Tensor<2>) -> Result<Analysis, AnalysisError> {
        let states = self.members.iter().map(|m| m.backbone_state(images.clone())).collect();
        self.analysis_of(states, metadata).await
    }

    /// Reads each member's logits back from the backbone passes `states`.
    async fn analysis_of(&self, states: Vec<BackboneState>, metadata: Tensor<2>) -> Result<Analysis, AnalysisError> {
        let mut member_logits = Vec::with_capacity(states.len());
        let mut member_features = Vec::with_capacity(states.len());
        for (member, state) in self.members.iter().zip(&states) {
            let pooled = member.pooled(state.features.clone());
            let (values, _) = read_back(member.classify(pooled.clone(), metadata.clone()), "results").await?;
            member_logits.push(values);
            member_features.push(read_back(pooled, "features").await?.0);
        }
        Ok(Analysis {
            prediction: Prediction::from_member_logits(&self.settings, member_logits),
            member_features,
            states,
        })
    }

    /// An analysis this ensemble made (as many members), or why not.
    fn check_made(&self, analysis: &Analysis) -> Result<(), AnalysisError> {
        if self.members.len() == analysis.states.len() {
            Ok(())
        } else {
            Err(AnalysisError::OtherEnsemble {
                made: analysis.states.len(),
                given: self.members.len(),
            })
        }
    }

    /// Each member's logits for `analysis`'s image with other metadata,
    /// from the kept backbone passes: only the layers after the backbone
    /// run again.
    pub async fn member_logits_for(
        &self,
        analysis: &Analysis,
        metadata: &Metadata,
    ) -> Result<Vec<Vec<f32>>, AnalysisError> {
        self.check_made(analysis)?;
        let input = self.metadata_input(metadata);
        let mut member_logits = Vec::with_capacity(analysis.states.len());
        for (member, state) in self.members.iter().zip(&analysis.states) {
            let (values, _) = read_back(member.logits(state, input.clone()), "results").await?;
            member_logits.push(values);
        }
        Ok(member_logits)
    }

    /// Each member's scaled map for each label (`members x labels`) of
    /// `analysis`, from its kept passes: members run in separate workers
    /// combine them where they meet, with [`CamMap::ensemble_per_label`].
    pub async fn member_heat_maps(
        &self,
        analysis: &Analysis,
        labels: &[usize],
        settings: CamSettings,
    ) -> Result<Vec<Vec<CamMap>>, AnalysisError> {
        self.check_made(analysis)?;
        let classes = analysis.prediction.labels.len();
        if let Some(&index) = labels.iter().find(|&&i| i >= classes) {
            return Err(AnalysisError::UnknownLabel { index, labels: classes });
        }
        if labels.is_empty() {
            return Ok(Vec::new());
        }
        let mut per_member = Vec::with_capacity(analysis.states.len());
        for (member, state) in self.members.iter().zip(&analysis.states) {
            let (values, dims) = gradcam::raw_maps(member, state, labels, settings).await?;
            per_member.push(maps_from_raw(dims, values));
        }
        Ok(per_member)
    }

    /// The normalised input `[3, S, S]` `analysis` ran on, and `S`.
    pub async fn input_of(&self, analysis: &Analysis) -> Result<(Vec<f32>, usize), AnalysisError> {
        self.check_made(analysis)?;
        let state = analysis.states.first().ok_or(AnalysisError::OtherEnsemble {
            made: 0,
            given: self.members.len(),
        })?;
        let (pixels, [_, _, size, _]) = read_back(state.images.clone(), "input").await?;
        Ok((pixels, size))
    }

    /// The logits of members `members` on a normalised input `[3, size, size]`.
    pub async fn logits_of(
        &self,
        members: std::ops::Range<usize>,
        pixels: Vec<f32>,
        size: usize,
        metadata: &Metadata,
    ) -> Result<Vec<Vec<f32>>, AnalysisError> {
        let (images, meta) = self.inputs_from_normalised(pixels, size, metadata);
        let mut logits = Vec::with_capacity(members.len());
        for member in &self.members[members] {
            logits.push(
                read_back(member.forward(images.clone(), meta.clone()), "results")
                    .await?
                    .0,
            );
        }
        Ok(logits)
    }

    /// How faithful `map` (a heat map of `label` for `analysis`'s image, at
    /// its layer's size) is to `scope`'s score, with `metadata`
    /// (`faithfulness::measure`; nine more passes of the members in scope).
    pub async fn faithfulness(
        &self,
        analysis: &Analysis,
        metadata: &Metadata,
        label: usize,
        scope: Scope,
        map: &CamMap,
    ) -> Result<Faithfulness, AnalysisError> {
        let classes = analysis.prediction.labels.len();
        if label >= classes {
            return Err(AnalysisError::UnknownLabel {
                index: label,
                labels: classes,
            });
        }
        if let Scope::Member(index) = scope
            && index >= self.members.len()
        {
            return Err(AnalysisError::UnknownMember {
                index,
                members: self.members.len(),
            });
        }
        let (pixels, size) = self.input_of(analysis).await?;
        let members = scope.members(self.members.len());
        let original = self.member_logits_for(analysis, metadata).await?[members.clone()].to_vec();
        let rule = self.settings.combine;
        let upsampled = map.upsampled(size, size);
        faithfulness::measure(&pixels, upsampled, label, rule, &original, |perturbed| {
            self.logits_of(members.clone(), perturbed, size, metadata)
        })
        .await
    }

    /// The ensemble's map for each label of `analysis`: the mean of the
    /// members' scaled maps, scaled again.
    pub async fn heat_maps(
        &self,
        analysis: &Analysis,
        labels: &[usize],
        settings: CamSettings,
    ) -> Result<Vec<CamMap>, AnalysisError> {
        let per_member = self.member_heat_maps(analysis, labels, settings).await?;
        Ok(CamMap::ensemble_per_label(&per_member))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::wait;
    use burn::tensor::Device;
    use chexlens_checkpoints::architecture::ArchitectureConfig;
    use chexlens_chexpert::metadata::Metadata;
    use chexlens_images::image::XrayImage;

    fn ensemble(members: u64) -> Ensemble {
        let config = ArchitectureConfig::with_backbone(vec![1, 1, 1, 1], vec![8, 16, 24, 32]);
        let weights = (0..members)
            .map(|seed| chexlens_checkpoints::architecture::generated(&config, seed))
            .collect();
        let settings = ModelSettings {
            input: chexlens_images::preprocess::InputConfig {
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
        let maps = wait(two.heat_maps(&analysis, &[0, 13], CamSettings::default())).unwrap();
        assert_eq!(maps.len(), 2);
        let again = wait(two.analyse(&image(), &Metadata::default())).unwrap();
        assert_eq!(
            wait(two.heat_maps(&again, &[0, 13], CamSettings::default())).unwrap(),
            maps
        );

        assert_eq!(
            wait(two.heat_maps(&analysis, &[14], CamSettings::default())).unwrap_err(),
            AnalysisError::UnknownLabel { index: 14, labels: 14 }
        );
        assert_eq!(
            wait(ensemble(3).member_heat_maps(&analysis, &[0], CamSettings::default())).unwrap_err(),
            AnalysisError::OtherEnsemble { made: 2, given: 3 }
        );
        assert!(
            wait(two.heat_maps(&analysis, &[], CamSettings::default()))
                .unwrap()
                .is_empty()
        );
    }
}
