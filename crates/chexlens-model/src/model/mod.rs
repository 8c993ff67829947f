//! ConvNeXtWithMetadata: backbone -> CBAM -> pool, fused with a metadata MLP.

mod backbone_state;
mod block;
mod cbam;
mod channels_last;
mod convnext;
mod cpu_kernels;
mod erf;
pub mod gelu;
mod layers;

pub use backbone_state::{BackboneState, BlockPass, normalised_rows};
pub use block::{Block, Downsample, Mlp, PreviousStageTail, TrunkOutput};
pub use cbam::Cbam;
pub use convnext::{Backbone, BackboneLayout, ConvNeXt, Stage};
pub use layers::{Conv2d, LayerNorm, Linear, WeightReader};

use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use chexlens_checkpoints::architecture::ArchitectureConfig;
use chexlens_checkpoints::weights::{StateDict, WeightError};

/// `metadata_fc`: Linear 8->64, ReLU, Dropout, Linear 64->32, ReLU, Dropout
/// (dropout is the identity at inference).
pub struct MetadataMlp {
    pub fc_0: Linear,
    pub fc_3: Linear,
}

impl MetadataMlp {
    pub fn forward(&self, metadata: Tensor<2>) -> Tensor<2> {
        relu(self.fc_3.forward(relu(self.fc_0.forward(metadata))))
    }
}

pub struct ConvNeXtWithMetadata {
    pub config: ArchitectureConfig,
    pub convnext_backbone: Backbone,
    pub cbam: Cbam,
    pub metadata_fc: MetadataMlp,
    pub classifier: Linear,
}

impl ConvNeXtWithMetadata {
    /// Builds the network from a checkpoint, after validating it against
    /// `config`, in the backbone layout that runs fastest on `device`.
    pub fn from_state_dict(
        config: ArchitectureConfig,
        weights: StateDict,
        device: &Device,
    ) -> Result<Self, WeightError> {
        Self::from_state_dict_in(config, weights, device, BackboneLayout::for_device(device))
    }

    /// `from_state_dict` with the backbone layout chosen by the caller.
    pub fn from_state_dict_in(
        config: ArchitectureConfig,
        weights: StateDict,
        device: &Device,
        layout: BackboneLayout,
    ) -> Result<Self, WeightError> {
        // A coherent config (at least one stage, each with blocks) is what
        // `ConvNeXt::last_block` relies on.
        config.check().map_err(|e| {
            weights.error(chexlens_checkpoints::weights::WeightErrorKind::Architecture(
                e.to_string(),
            ))
        })?;
        config.validate(&weights)?;
        let schema = config.schema();
        let mut r = WeightReader::new(weights, device);
        Ok(Self {
            convnext_backbone: Backbone::load(&mut r, &schema.convnext_backbone, &config, layout)?,
            cbam: Cbam::load(&mut r, &schema.cbam)?,
            metadata_fc: MetadataMlp {
                fc_0: Linear::load(&mut r, &schema.metadata_fc_0)?,
                fc_3: Linear::load(&mut r, &schema.metadata_fc_3)?,
            },
            classifier: Linear::load(&mut r, &schema.classifier)?,
            config,
        })
    }

    /// The head after the backbone: CBAM, pooling, fusion, classifier.
    pub fn head(&self, features: Tensor<4>, metadata: Tensor<2>) -> Tensor<2> {
        self.classify(self.pooled(features), metadata)
    }

    /// What the classifier sees of the image: the backbone's features after
    /// CBAM, averaged over space, `[N, C]`.
    pub fn pooled(&self, features: Tensor<4>) -> Tensor<2> {
        let attended = self.cbam.forward(features);
        let [n, c, _, _] = attended.dims();
        attended.mean_dim(3).mean_dim(2).reshape([n, c])
    }

    /// Fusion with the metadata branch, then the classifier: logits `[N, classes]`.
    pub fn classify(&self, pooled: Tensor<2>, metadata: Tensor<2>) -> Tensor<2> {
        let fused = Tensor::cat(vec![pooled, self.metadata_fc.forward(metadata)], 1);
        self.classifier.forward(fused)
    }

    /// Logits `[N, classes]` for normalised images `[N, 3, H, W]` and metadata `[N, 8]`.
    pub fn forward(&self, images: Tensor<4>, metadata: Tensor<2>) -> Tensor<2> {
        self.logits(&self.backbone_state(images), metadata)
    }

    /// The backbone's pass over normalised images, kept for prediction and Grad-CAM.
    pub fn backbone_state(&self, images: Tensor<4>) -> BackboneState {
        BackboneState::new(self, images)
    }

    /// Logits from the backbone's pass over the images.
    pub fn logits(&self, state: &BackboneState, metadata: Tensor<2>) -> Tensor<2> {
        self.head(state.features.clone(), metadata)
    }
}
