//! Grad-CAM as pytorch-grad-cam computes it, for any label and member:
//! cam = ReLU(sum_c mean_hw(dScore/dA_c) * A_c) at the target layer, then
//! min-max scaled (`(x - min) / (max + 1e-7)` after subtracting the min).
//!
//! The backbone runs once, without gradients, up to the target layer. The
//! head runs under autodiff with one copy of the last block's output per
//! requested label in a batch, so a single backward pass yields every
//! label's gradient there; for the reference's target layer the rest of the
//! last block is then differentiated by hand (`BlockTail`).

pub use crate::cam::{CamMap, jet, maps_from_raw, overlay};
use crate::model::gelu::{gelu, gelu_derivative};
use crate::model::{Block, ConvNeXtWithMetadata};
use burn::tensor::activation::relu;
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
        let metadata = metadata.repeat_dim(0, k);
        match target {
            CamTarget::LastDepthwiseConv => {
                // Autodiff runs only the head; the block is differentiated by hand.
                let activation = last_block.conv_dw.forward(state.clone());
                let tail = BlockTail::forward(last_block, state, activation.clone());
                let features = tail.features.clone().repeat_dim(0, k).autodiff().require_grad();
                let d_features = self.label_gradients(features, metadata, labels);
                let weights = tail.mean_input_gradient(last_block, d_features);
                weighted_map(activation, weights)
            }
            CamTarget::LastStage => {
                let activation = last_block.forward(state);
                let leaf = activation.clone().repeat_dim(0, k).autodiff().require_grad();
                let weights = self.label_gradients(leaf, metadata, labels).mean_dim(3).mean_dim(2);
                let [_, c, _, _] = activation.dims();
                weighted_map(activation, weights.reshape([k, c]))
            }
        }
    }

    /// d(logit of `labels[i]`)/d(features), row `i` for label `i`: one
    /// backward pass through the head for every label, the features' copies
    /// (`[k, C, H, W]`, an autodiff leaf) keeping them apart.
    fn label_gradients(&self, features: Tensor<4>, metadata: Tensor<2>, labels: &[usize]) -> Tensor<4> {
        let logits = self.head(features.clone(), metadata);
        let [k, classes] = logits.dims();
        let mut mask = vec![0f32; k * classes];
        for (row, &label) in labels.iter().enumerate() {
            mask[row * classes + label] = 1.0;
        }
        let mask = Tensor::<2>::from_data(TensorData::new(mask, [k, classes]), &features.device()).without_autodiff();
        let gradients = (logits * mask).sum().backward();
        features.grad(&gradients).expect("the features are a tracked leaf")
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

/// ReLU(sum over channels of weight x activation) for each of the `k` rows of
/// `weights` `[k, C]`, over one image's activation `[1, C, H, W]`: `[k, H, W]`.
fn weighted_map(activation: Tensor<4>, weights: Tensor<2>) -> Tensor<3> {
    let [_, c, h, w] = activation.dims();
    let k = weights.dims()[0];
    let map = weights.matmul(activation.reshape([c, h * w]));
    relu(map).reshape([k, h, w])
}

/// The last block after its depthwise conv, run forward once with what its
/// backward needs kept: the gradient of every label then flows back through
/// it by hand, in two batched matmuls, instead of a k-fold forward and an
/// autodiff backward (half the work of Grad-CAM).
struct BlockTail {
    /// The LayerNorm's normalised input and 1/std, `[HW, C]` and `[HW, 1]`.
    x_hat: Tensor<2>,
    inv_std: Tensor<2>,
    /// `mlp.fc1`'s output, `[HW, 4C]`.
    hidden: Tensor<2>,
    /// The block's output, `[1, C, H, W]`.
    features: Tensor<4>,
}

impl BlockTail {
    /// `Block::forward_after_conv_dw` on one image, keeping its intermediates.
    fn forward(block: &Block, shortcut: Tensor<4>, dw: Tensor<4>) -> Self {
        let [_, c, h, w] = dw.dims();
        let dw = dw.permute([0, 2, 3, 1]).reshape([h * w, c]);
        let centred = dw.clone() - dw.mean_dim(1);
        let variance = (centred.clone() * centred.clone()).mean_dim(1);
        let inv_std = variance.add_scalar(block.norm.eps()).sqrt().recip();
        let x_hat = centred * inv_std.clone();
        let x = x_hat.clone() * block.norm.weight.clone().unsqueeze::<2>() + block.norm.bias.clone().unsqueeze::<2>();
        let hidden = block.mlp.fc1.forward(x);
        let out = block.mlp.fc2.forward(gelu(hidden.clone())) * block.gamma.clone().unsqueeze::<2>();
        let features = out.reshape([1, h, w, c]).permute([0, 3, 1, 2]) + shortcut;
        Self {
            x_hat,
            inv_std,
            hidden,
            features,
        }
    }

    /// For each of the `k` gradients at the block's output `[k, C, H, W]`,
    /// the spatial mean of the gradient at the depthwise conv's output: `[k, C]`.
    ///
    /// Per position p, with u_p the gradient at fc1's output, r_p = u_p W1^T
    /// and x̂_p, σ_p the LayerNorm's normalised input and std, the gradient is
    /// (γr_p - mean(γr_p) - x̂_p mean(γr_p x̂_p)) / σ_p. Only its mean over p is
    /// needed, and each term is linear in u_p, so fc1 is applied once to
    /// the σ-weighted mean of u_p per label instead of to every position's.
    fn mean_input_gradient(&self, block: &Block, d_features: Tensor<4>) -> Tensor<2> {
        let [k, c, h, w] = d_features.dims();
        let hw = h * w;
        let gamma = block.gamma.clone().unsqueeze::<2>();
        let d_out = d_features.permute([0, 2, 3, 1]).reshape([k * hw, c]) * gamma;
        let d_gelu = d_out.matmul(block.mlp.fc2.weight.clone().transpose());
        let hidden = d_gelu.dims()[1];
        // u_p for every label: [k, HW, 4C].
        let u = d_gelu.reshape([k, hw, hidden]) * gelu_derivative(self.hidden.clone()).unsqueeze::<3>();
        // The mean's weights 1/(σ_p HW): [1, HW, 1].
        let weights = (self.inv_std.clone() / hw as f32).unsqueeze::<3>();
        let norm_weight = block.norm.weight.clone().unsqueeze::<2>();
        let fc1 = block.mlp.fc1.weight.clone();

        // mean_p γ r_p / σ_p = γ ((mean_p u_p / σ_p) W1^T).
        let u_mean = (u.clone() * weights.clone()).sum_dim(1).reshape([k, hidden]);
        let scaled = u_mean.clone().matmul(fc1.clone().transpose()) * norm_weight.clone();
        // mean(γ r_p) = u_p . (γ W1 / C), its weighted mean over p per label: [k, 1].
        let through_mean = (u_mean * (norm_weight.clone().matmul(fc1.clone()) / c as f32)).sum_dim(1);
        // mean(γ r_p x̂_p) = u_p . ((γ x̂_p) W1 / C), then weighted by x̂_p over p: [k, C].
        let projections = (self.x_hat.clone() * norm_weight).matmul(fc1) / c as f32;
        let coefficients = (u * projections.unsqueeze::<3>()).sum_dim(2) * weights;
        let through_projection = coefficients.reshape([k, hw]).matmul(self.x_hat.clone());
        scaled - through_mean - through_projection
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
