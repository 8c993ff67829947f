//! Grad-CAM as pytorch-grad-cam computes it, for any label and member:
//! cam = ReLU(sum_c mean_hw(dScore/dA_c) * A_c) at the target layer, then
//! min-max scaled (`(x - min) / (max + 1e-7)` after subtracting the min).
//!
//! It starts from the pass prediction made (`BackboneState`, kept by
//! [`crate::Analysis`]): nothing runs forward again. The gradients of every requested label are derived by
//! hand, in a form that keeps them cheap: through the head (`head`) and,
//! for the reference's target layer, back through the rest of the last
//! block (`block_tail`). No autodiff, so the same code runs on every
//! backend; tests check it against burn's autodiff.

mod block_tail;
mod head;

use crate::model::{BackboneState, ConvNeXtWithMetadata};
use block_tail::mean_depthwise_gradient;
use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use head::HeadGradients;
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

/// `model`'s unscaled maps (ReLU applied), `[labels, H, W]`, for one image
/// from the backbone's pass over it, which prediction made already. The
/// metadata only shifts the logits, so the maps do not depend on it.
pub fn raw_maps(model: &ConvNeXtWithMetadata, state: &BackboneState, labels: &[usize], target: CamTarget) -> Tensor<3> {
    let gradients = HeadGradients::new(model, state.features.clone(), labels);
    match target {
        CamTarget::LastDepthwiseConv => {
            let block = model.convnext_backbone.last_block();
            let weights = mean_depthwise_gradient(block, state, &gradients);
            weighted_map(state.depthwise.clone(), weights)
        }
        CamTarget::LastStage => {
            let weights = gradients.dense().mean_dim(1).squeeze_dim(1);
            weighted_map(state.features.clone(), weights)
        }
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

/// The hand-derived gradients against burn's autodiff on the same model.
#[cfg(all(test, feature = "autodiff"))]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};
    use chexlens_checkpoints::architecture::ArchitectureConfig;

    const LABELS: [usize; 3] = [0, 5, 13];

    fn model_and_state() -> (ConvNeXtWithMetadata, Tensor<4>, BackboneState, Tensor<2>) {
        // 48 channels at the end: CBAM's reduction keeps 3.
        let config = ArchitectureConfig::with_backbone(vec![1, 1, 1, 2], vec![8, 16, 24, 48]);
        let device = Device::flex();
        let model = ConvNeXtWithMetadata::from_state_dict(
            config.clone(),
            chexlens_checkpoints::architecture::generated(&config, 3),
            &device,
        )
        .unwrap();
        let pixels: Vec<f32> = (0..3 * 144 * 112)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
            .collect();
        let images = Tensor::<4>::from_data(TensorData::new(pixels, [1, 3, 144, 112]), &device);
        let metadata = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, 0., 0.5, 1., 0., 0., 1., 0.], [1, 8]),
            &device,
        );
        let state = model.backbone_state(images.clone());
        (model, images, state, metadata)
    }

    /// d(logit of `LABELS[i]`)/d(leaf) in row i, the leaf holding one copy
    /// per label so that a single backward pass keeps them apart.
    fn autodiff_gradient(
        leaf: Tensor<4>,
        metadata: Tensor<2>,
        logits_of: impl Fn(Tensor<4>, Tensor<2>) -> Tensor<2>,
    ) -> Tensor<4> {
        let k = LABELS.len();
        let leaf = leaf.repeat_dim(0, k).autodiff().require_grad();
        let logits = logits_of(leaf.clone(), metadata.repeat_dim(0, k).autodiff());
        let classes = logits.dims()[1];
        let mut mask = vec![0f32; k * classes];
        for (row, &label) in LABELS.iter().enumerate() {
            mask[row * classes + label] = 1.0;
        }
        let mask = Tensor::<2>::from_data(TensorData::new(mask, [k, classes]), &leaf.device()).without_autodiff();
        let gradients = (logits * mask).sum().backward();
        leaf.grad(&gradients).expect("a tracked leaf")
    }

    /// Within 1e-5 of `scale`, the largest gradient entry before any mean
    /// over positions (means of gradients cancel to far smaller values).
    fn assert_close(ours: Tensor<3>, reference: Tensor<3>, scale: f32, what: &str) {
        let diff: f32 = (ours - reference).abs().max().into_scalar();
        assert!(scale > 1e-6, "{what}: a zero gradient would prove nothing");
        assert!(diff <= 1e-5 * scale, "{what}: differs by {diff} (largest {scale})");
    }

    #[test]
    fn head_gradients_match_autodiff() {
        let (model, _, state, metadata) = model_and_state();
        let [_, c, h, w] = state.features.dims();
        let ours = HeadGradients::new(&model, state.features.clone(), &LABELS).dense();
        let reference = autodiff_gradient(state.features, metadata, |f, m| model.head(f, m));
        let reference = reference.reshape([LABELS.len(), c, h * w]).swap_dims(1, 2);
        let scale = reference.clone().abs().max().into_scalar();
        assert_close(ours, reference, scale, "head gradient");
    }

    /// Also checks the kept forward pass: autodiff reruns the block with
    /// `Block::forward_after_conv_dw` from the depthwise output.
    #[test]
    fn block_tail_mean_gradient_matches_autodiff() {
        let (model, images, state, metadata) = model_and_state();
        let block = model.convnext_backbone.last_block();
        let gradients = HeadGradients::new(&model, state.features.clone(), &LABELS);
        let ours = mean_depthwise_gradient(block, &state, &gradients);

        let k = LABELS.len();
        let shortcut = model.convnext_backbone.forward_until_last_block(images);
        let shortcut = shortcut.repeat_dim(0, k).autodiff();
        let reference = autodiff_gradient(state.depthwise.clone(), metadata, |dw, m| {
            model.head(block.forward_after_conv_dw(shortcut.clone(), dw), m)
        });
        let scale = reference.clone().abs().max().into_scalar();
        let reference = reference.mean_dim(3).mean_dim(2).reshape([k, 1, ours.dims()[1]]);
        assert_close(
            ours.unsqueeze_dim(1),
            reference,
            scale,
            "mean gradient at the depthwise conv",
        );
    }
}
