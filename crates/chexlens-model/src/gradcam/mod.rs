//! Class activation maps as pytorch-grad-cam computes them, for any
//! label and member: Grad-CAM (the reference's, and the default) and the
//! rest of its gradient family (`methods`), at the reference's layer or a
//! finer one. Each is a map at the layer's resolution, ReLU applied, then
//! min-max scaled (`CamMap::scaled`).
//!
//! It starts from the pass prediction made (`BackboneState`, kept by
//! [`crate::Analysis`]): no forward pass runs again for the last layer.
//! The gradients are derived by hand: through the head (`head`), then for
//! Grad-CAM only their spatial mean back through the rest of the last
//! block (`block_tail`, cheap), for the other methods the whole gradient
//! (`backward`), and for the finer layer back through the last stage
//! (`previous_stage`). No autodiff, so the same code runs on every
//! backend; tests hold it to burn's autodiff and to pytorch-grad-cam.

mod backward;
mod block_tail;
mod head;
pub mod methods;
mod previous_stage;

use crate::analysis::{AnalysisError, read_back};
use crate::model::{BackboneState, ConvNeXtWithMetadata};
use block_tail::mean_depthwise_gradient;
use burn::tensor::activation::relu;
use head::HeadGradients;
use methods::Unrectified;

// The choices are plain data, so the page's main thread names them without burn.
pub use chexlens_images::cam::{CamLayer, CamMethod, CamSettings};

/// `model`'s unscaled maps (ReLU applied) for one image, from the
/// backbone's pass over it that prediction made: the values `[labels, H,
/// W]` row-major, and that shape. The metadata only shifts the logits, so
/// the maps do not depend on it.
pub async fn raw_maps(
    model: &ConvNeXtWithMetadata,
    state: &BackboneState,
    labels: &[usize],
    settings: CamSettings,
) -> Result<(Vec<f32>, [usize; 3]), AnalysisError> {
    let k = labels.len();
    let method = settings.method;
    let head = HeadGradients::new(model, state.features.clone(), labels);
    let (activation, gradients, [h, w]) = match settings.layer {
        CamLayer::Last => {
            let (block, pass) = (model.convnext_backbone.last_block(), &state.last_block);
            let [_, c, h, w] = pass.depthwise.dims();
            let activation = pass.depthwise.clone().permute([0, 2, 3, 1]).reshape([h * w, c]);
            if method == CamMethod::GradCam {
                // The spatial mean alone, without the whole gradient.
                let weights = mean_depthwise_gradient(block, state, &head);
                let map = relu(weights.matmul(activation.transpose())).reshape([k, h, w]);
                return read_back(map, "heat maps").await;
            }
            let gradients = method
                .uses_gradients()
                .then(|| backward::to_depthwise(block, pass, head.dense()));
            (activation, gradients, [h, w])
        }
        CamLayer::Stages2 => {
            let found = if method.uses_gradients() {
                previous_stage::activation_and_gradients(model, state, &head).map(|(a, g, size)| (a, Some(g), size))
            } else {
                previous_stage::activation(model, state).map(|(a, size)| (a, None, size))
            };
            found.ok_or(AnalysisError::NoSuchLayer {
                layer: settings.layer.name(),
            })?
        }
    };
    match methods::unrectified(method, activation, gradients) {
        Unrectified::Maps(maps) => read_back(relu(maps).reshape([k, h, w]), "heat maps").await,
        Unrectified::Projections(matrices) => {
            let (grams, [m, n, _]) = read_back(methods::centred_grams(matrices), "heat maps").await?;
            let maps: Vec<Vec<f32>> = grams
                .chunks_exact(n * n)
                .map(|gram| methods::projection(gram, n).into_iter().map(|v| v.max(0.0)).collect())
                .collect();
            // EigenCAM's one map serves every label.
            let values = (0..k).flat_map(|i| maps[i.min(m - 1)].clone()).collect();
            Ok((values, [k, h, w]))
        }
    }
}

/// The hand-derived gradients against burn's autodiff on the same model.
#[cfg(all(test, feature = "autodiff"))]
mod tests {
    use super::*;
    use crate::model::BlockPass;
    use burn::tensor::{Device, Tensor, TensorData};
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

    /// Autodiff's gradient at the last block's depthwise output `[k, C, H, W]`,
    /// rerunning the block with `Block::forward_after_conv_dw`.
    fn autodiff_at_last_depthwise(
        model: &ConvNeXtWithMetadata,
        images: Tensor<4>,
        state: &BackboneState,
        metadata: Tensor<2>,
    ) -> Tensor<4> {
        let block = model.convnext_backbone.last_block();
        let shortcut = model
            .convnext_backbone
            .forward_until_last_block(images)
            .before_last_block;
        let shortcut = shortcut.repeat_dim(0, LABELS.len()).autodiff();
        autodiff_gradient(state.last_block.depthwise.clone(), metadata, |dw, m| {
            model.head(block.forward_after_conv_dw(shortcut.clone(), dw), m)
        })
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
        let reference = autodiff_at_last_depthwise(&model, images, &state, metadata);
        let scale = reference.clone().abs().max().into_scalar();
        let reference = reference.mean_dim(3).mean_dim(2).reshape([k, 1, ours.dims()[1]]);
        assert_close(
            ours.unsqueeze_dim(1),
            reference,
            scale,
            "mean gradient at the depthwise conv",
        );
    }

    /// The whole gradient at the last depthwise conv, position by position.
    #[test]
    fn depthwise_gradient_matches_autodiff() {
        let (model, images, state, metadata) = model_and_state();
        let block = model.convnext_backbone.last_block();
        let head = HeadGradients::new(&model, state.features.clone(), &LABELS);
        let ours = backward::to_depthwise(block, &state.last_block, head.dense());

        let k = LABELS.len();
        let reference = autodiff_at_last_depthwise(&model, images, &state, metadata);
        let [_, c, h, w] = reference.dims();
        let reference = reference.reshape([k, c, h * w]).swap_dims(1, 2);
        let scale = reference.clone().abs().max().into_scalar();
        assert_close(ours, reference, scale, "gradient at the depthwise conv");
    }

    /// The finer layer's gradient: back through the last stage's blocks,
    /// its downsampling (on a map whose odd side the stride drops a row
    /// of) and the previous stage's last block.
    #[test]
    fn previous_stage_gradient_matches_autodiff() {
        let (model, images, state, metadata) = model_and_state();
        let head = HeadGradients::new(&model, state.features.clone(), &LABELS);
        let (_, ours, [h, w]) = previous_stage::activation_and_gradients(&model, &state, &head).unwrap();

        let k = LABELS.len();
        let tail = model.convnext_backbone.previous_stage_tail().unwrap();
        let last = model.convnext_backbone.last_block();
        let input = state.previous_stage_block_input.clone().unwrap();
        let leaf = BlockPass::new(&tail.block, input.clone()).depthwise;
        let input = input.repeat_dim(0, k).autodiff();
        let reference = autodiff_gradient(leaf, metadata, |dw, m| {
            let x = tail.block.forward_after_conv_dw(input.clone(), dw);
            let d = tail.downsample.as_ref().unwrap();
            let x = d.conv.forward(d.norm.forward_2d(x));
            let x = tail.blocks.iter().fold(x, |x, b| b.forward(x));
            model.head(last.forward(x), m)
        });
        let [_, c, rh, rw] = reference.dims();
        assert_eq!([rh, rw], [h, w]);
        let _ = images;
        let reference = reference.reshape([k, c, h * w]).swap_dims(1, 2);
        let scale = reference.clone().abs().max().into_scalar();
        assert_close(
            ours,
            reference,
            scale,
            "gradient at the previous stage's depthwise conv",
        );
    }
}
