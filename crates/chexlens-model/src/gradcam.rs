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
    /// Unscaled maps (ReLU applied), `[labels, H, W]`, for one image, from the
    /// backbone's state before its last block (`forward_until_last_block`),
    /// which prediction computed already.
    pub fn grad_cam_raw(
        &self,
        state: Tensor<4>,
        metadata: Tensor<2>,
        labels: &[usize],
        target: CamTarget,
    ) -> Tensor<3> {
        let k = labels.len().max(1);
        let last_block = self.convnext_backbone.last_block();
        let x = state;

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

    /// Scaled maps at the target layer's resolution, one per label, from the
    /// images (native backends).
    pub fn grad_cam(&self, images: Tensor<4>, metadata: Tensor<2>, labels: &[usize], target: CamTarget) -> Vec<CamMap> {
        if labels.is_empty() {
            return Vec::new();
        }
        let state = self.convnext_backbone.forward_until_last_block(images);
        let raw = self.grad_cam_raw(state, metadata, labels, target);
        maps_from_raw(raw.dims(), raw.into_data().try_to_vec::<f32>().unwrap_or_default())
    }
}

impl crate::Ensemble {
    /// The ensemble's map for each label from the members' backbone states
    /// ([`crate::Ensemble::backbone_states`]): every member's scaled map,
    /// combined by [`CamMap::ensemble`] (mean of scaled maps, scaled again).
    /// Native backends.
    pub fn grad_cam(
        &self,
        states: &[Tensor<4>],
        metadata: &Tensor<2>,
        labels: &[usize],
        target: CamTarget,
    ) -> Vec<CamMap> {
        if labels.is_empty() {
            return Vec::new();
        }
        let per_member: Vec<Vec<CamMap>> = self
            .members
            .iter()
            .zip(states)
            .map(|(m, state)| {
                let raw = m.grad_cam_raw(state.clone(), metadata.clone(), labels, target);
                maps_from_raw(raw.dims(), raw.into_data().try_to_vec::<f32>().unwrap_or_default())
            })
            .collect();
        CamMap::ensemble_per_label(&per_member)
    }

    /// As [`Self::grad_cam`], reading back asynchronously (required on WebGPU).
    pub async fn grad_cam_async(
        &self,
        states: &[Tensor<4>],
        metadata: &Tensor<2>,
        labels: &[usize],
        target: CamTarget,
    ) -> Result<Vec<CamMap>, String> {
        if labels.is_empty() {
            return Ok(Vec::new());
        }
        let mut per_member = Vec::with_capacity(self.members.len());
        for (member, state) in self.members.iter().zip(states) {
            let raw = member.grad_cam_raw(state.clone(), metadata.clone(), labels, target);
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
