//! Grad-CAM as pytorch-grad-cam computes it, for any label and member:
//! cam = ReLU(sum_c mean_hw(dScore/dA_c) * A_c) at the target layer, then
//! min-max scaled (`(x - min) / (max + 1e-7)` after subtracting the min).
//!
//! The backbone runs once, without gradients, up to the target layer; only
//! what follows it runs under autodiff, with one copy of the activation per
//! requested label in a batch, so a single backward pass yields every label's
//! gradient.

pub use crate::cam::{CamMap, jet, maps_from_raw, overlay};
use crate::model::ConvNeXtWithMetadata;
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// The layer whose activations and gradients make the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CamTarget {
    /// The reference's choice: the depthwise 7x7 conv of the last block of
    /// the last stage (the backbone's last `Conv2d`).
    #[default]
    LastDepthwiseConv,
    /// The last stage's output (the backbone's feature map).
    LastStage,
}

impl ConvNeXtWithMetadata {
    /// Unscaled maps (ReLU applied), `[labels, H, W]`, for one image
    /// (`images` is `[1, 3, S, S]`, `metadata` `[1, 8]`).
    pub fn grad_cam_raw(
        &self,
        images: Tensor<4>,
        metadata: Tensor<2>,
        labels: &[usize],
        target: CamTarget,
    ) -> Tensor<3> {
        let k = labels.len().max(1);
        let backbone = &self.convnext_backbone;
        let Some((last_stage, earlier)) = backbone.stages.split_last() else {
            unreachable!("an architecture has at least one stage (checked on load)")
        };
        let x = earlier.iter().fold(backbone.stem(images), |x, s| s.forward(x));
        let x = last_stage.downsample_input(x);
        let Some((last_block, blocks)) = last_stage.blocks.split_last() else {
            unreachable!("a stage has at least one block (checked on load)")
        };
        let x = blocks.iter().fold(x, |x, b| b.forward(x));

        // The activation, one copy per label, is the only autodiff leaf.
        let (activation, features) = match target {
            CamTarget::LastDepthwiseConv => {
                let a = last_block
                    .conv_dw
                    .forward(x.clone())
                    .repeat_dim(0, k)
                    .autodiff()
                    .require_grad();
                let features = last_block.forward_after_conv_dw(x.repeat_dim(0, k), a.clone());
                (a, features)
            }
            CamTarget::LastStage => {
                let a = last_block.forward(x).repeat_dim(0, k).autodiff().require_grad();
                (a.clone(), a)
            }
        };
        let logits = self.head(features, metadata.repeat_dim(0, k));
        let classes = logits.dims()[1];
        let mut mask = vec![0f32; k * classes];
        for (row, &label) in labels.iter().enumerate() {
            mask[row * classes + label] = 1.0;
        }
        let mask = Tensor::<2>::from_data(TensorData::new(mask, [k, classes]), &activation.device()).without_autodiff();
        let gradients = (logits * mask).sum().backward();
        let gradient = activation.grad(&gradients).expect("the activation is a tracked leaf");
        let activation = activation.without_autodiff();
        let weights = gradient.mean_dim(3).mean_dim(2);
        let [_, _, h, w] = activation.dims();
        burn::tensor::activation::relu((activation * weights).sum_dim(1)).reshape([k, h, w])
    }

    /// Scaled maps at the target layer's resolution, one per label (native backends).
    pub fn grad_cam(&self, images: Tensor<4>, metadata: Tensor<2>, labels: &[usize], target: CamTarget) -> Vec<CamMap> {
        if labels.is_empty() {
            return Vec::new();
        }
        let raw = self.grad_cam_raw(images, metadata, labels, target);
        maps_from_raw(raw.dims(), raw.into_data().try_to_vec::<f32>().unwrap_or_default())
    }
}

impl crate::Ensemble {
    /// The ensemble's map for each label: every member's scaled map, combined
    /// by [`CamMap::ensemble`] (mean of scaled maps, scaled again). Native backends.
    pub fn grad_cam(
        &self,
        images: &Tensor<4>,
        metadata: &Tensor<2>,
        labels: &[usize],
        target: CamTarget,
    ) -> Vec<CamMap> {
        let per_member: Vec<Vec<CamMap>> = self
            .members
            .iter()
            .map(|m| m.grad_cam(images.clone(), metadata.clone(), labels, target))
            .collect();
        CamMap::ensemble_per_label(&per_member)
    }

    /// As [`Self::grad_cam`], reading back asynchronously (required on WebGPU).
    pub async fn grad_cam_async(
        &self,
        images: &Tensor<4>,
        metadata: &Tensor<2>,
        labels: &[usize],
        target: CamTarget,
    ) -> Result<Vec<CamMap>, String> {
        if labels.is_empty() {
            return Ok(Vec::new());
        }
        let mut per_member = Vec::with_capacity(self.members.len());
        for member in &self.members {
            let raw = member.grad_cam_raw(images.clone(), metadata.clone(), labels, target);
            let dims = raw.dims();
            let data = raw
                .into_data_async()
                .await
                .map_err(|e| format!("reading heat maps back failed: {e:?}"))?;
            let values = data
                .try_to_vec::<f32>()
                .map_err(|e| format!("unexpected heat map type: {e:?}"))?;
            per_member.push(maps_from_raw(dims, values));
        }
        Ok(CamMap::ensemble_per_label(&per_member))
    }
}
