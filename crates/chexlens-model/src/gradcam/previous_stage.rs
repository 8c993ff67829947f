//! The finer layer (`stages_2`): the depthwise conv of the previous stage's
//! last block, at twice the last layer's resolution. Its gradient runs
//! back through the whole last stage, so the stage is run again from the
//! kept input of that block (`BackboneState::previous_stage_block_input`)
//! keeping what the backward needs, then differentiated per position with
//! `backward`'s products.

use super::backward::{layer_norm, through_block, to_depthwise, transposed_conv};
use super::head::HeadGradients;
use crate::model::{BackboneState, BlockPass, ConvNeXtWithMetadata, normalised_rows};
use burn::tensor::Tensor;

/// The target's activation `[HW, C]` alone, with its height and width
/// (EigenCAM: no gradient, so only the target's block runs again).
pub fn activation(model: &ConvNeXtWithMetadata, state: &BackboneState) -> Option<(Tensor<2>, [usize; 2])> {
    let tail = model.convnext_backbone.previous_stage_tail()?;
    let input = state.previous_stage_block_input.clone()?;
    let depthwise = tail.block.conv_dw.forward(input);
    let [_, c, h, w] = depthwise.dims();
    Some((depthwise.permute([0, 2, 3, 1]).reshape([h * w, c]), [h, w]))
}

/// The target's activation `[HW, C]` and each label's gradient at it
/// `[k, HW, C]`, with its height and width; none for a one-stage model.
pub fn activation_and_gradients(
    model: &ConvNeXtWithMetadata,
    state: &BackboneState,
    head: &HeadGradients,
) -> Option<(Tensor<2>, Tensor<3>, [usize; 2])> {
    let tail = model.convnext_backbone.previous_stage_tail()?;
    let input = state.previous_stage_block_input.clone()?;

    // Forward again from the kept input, keeping each layer's pass.
    let target = BlockPass::new(&tail.block, input);
    let mut x = target.output.clone();
    let downsample = tail.downsample.as_ref().map(|d| {
        let [n, c, h, w] = x.dims();
        let rows = x.clone().permute([0, 2, 3, 1]).reshape([n * h * w, c]);
        let (x_hat, inv_std) = normalised_rows(rows, d.norm.eps());
        let normed = x_hat.clone() * d.norm.weight.clone().unsqueeze::<2>() + d.norm.bias.clone().unsqueeze::<2>();
        x = d.conv.forward(normed.reshape([n, h, w, c]).permute([0, 3, 1, 2]));
        (x_hat, inv_std, [h, w])
    });
    let passes: Vec<BlockPass> = tail
        .blocks
        .iter()
        .map(|block| {
            let pass = BlockPass::new(block, x.clone());
            x = pass.output.clone();
            pass
        })
        .collect();

    // Backward from the head, through the last block and the ones before it.
    let last = model.convnext_backbone.last_block();
    let mut g = through_block(last, &state.last_block, head.dense());
    for (block, pass) in tail.blocks.iter().zip(&passes).rev() {
        g = through_block(block, pass, g);
    }
    let [_, c, h, w] = target.depthwise.dims();
    if let (Some(d), Some((x_hat, inv_std, size))) = (&tail.downsample, downsample) {
        let [_, _, h_out, w_out] = state.features.dims();
        g = layer_norm(
            &d.norm,
            &x_hat,
            &inv_std,
            transposed_conv(&d.conv, g, [h_out, w_out], size),
        );
    }
    let gradients = to_depthwise(&tail.block, &target, g);
    let activation = target.depthwise.permute([0, 2, 3, 1]).reshape([h * w, c]);
    Some((activation, gradients, [h, w]))
}
