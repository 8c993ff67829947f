//! Ensembles of ConvNeXtWithMetadata members and their inputs; what they
//! make of an image is an [`crate::Analysis`].

use crate::analysis::{Analysis, AnalysisError};
use crate::model::ConvNeXtWithMetadata;
use burn::tensor::{Device, Tensor, TensorData};
use chexlens_formats::architecture::{ArchitectureConfig, ArchitectureError};
use chexlens_formats::input::XrayImage;
use chexlens_formats::manifest::ModelSettings;
use chexlens_formats::metadata::Metadata;
use chexlens_formats::weights::{StateDict, WeightError, WeightErrorKind};

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
        Analysis::from_states(self, states, metadata).await
    }
}
