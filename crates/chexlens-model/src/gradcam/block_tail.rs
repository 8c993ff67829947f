//! The last block after its depthwise conv, differentiated by hand from
//! what its forward pass kept (`BackboneState`), down to the spatial mean
//! of the gradient at the depthwise conv's output: all Grad-CAM needs.

use super::head::HeadGradients;
use crate::model::gelu::gelu_derivative;
use crate::model::{BackboneState, Block};
use burn::tensor::Tensor;

/// For each label's gradient at the block's output, the spatial mean of
/// the gradient at the depthwise conv's output: `[k, C]`.
///
/// Backwards from the output: fc2 (with the layer scale) maps a
/// gradient g to V g, V = W2 diag(γ); GELU multiplies by D_p = GELU'
/// at fc1's output; fc1 maps u to r = W1^T u; the LayerNorm gives
/// (γn r - mean(γn r) - x̂_p mean(γn r x̂_p)) / σ_p. Everything is linear
/// in the gradient, so each of G_l's terms (see `head`) is pushed
/// through once per label, or once for all, never per position and
/// label: about a hundredth of the work of the two batched matrix
/// products that differentiating it position by position would take.
pub fn mean_depthwise_gradient(block: &Block, state: &BackboneState, g: &HeadGradients) -> Tensor<2> {
    let pass = &state.last_block;
    let [hw, c] = pass.x_hat.dims();
    let k = g.attended.dims()[0];
    let norm_weight = block.norm.weight.clone().unsqueeze::<2>();
    let gamma = block.gamma.clone().unsqueeze::<2>();
    // W1 `[C, 4C]` and W2^T `[C, 4C]` (a strided view, not a copy).
    let (fc1, fc2_t) = (block.mlp.fc1.weight.clone(), block.mlp.fc2.weight.clone().transpose());
    let d = gelu_derivative(pass.hidden.clone());
    // 1 / (σ_p HW), the weights of the mean over positions: `[1, HW]`.
    let weights = (pass.inv_std.clone() / hw as f32).transpose();

    // V = W2 diag(γ) applied to G_l's per-label and shared terms in one
    // product (each product reads all of W2), and to each position's
    // max channel by gathering V's columns.
    let terms = Tensor::cat(vec![g.attended.clone(), g.pooled.clone(), g.mean_direction.clone()], 0);
    let through_fc2 = (terms * gamma.clone()).matmul(fc2_t.clone());
    let attended = through_fc2.clone().narrow(0, 0, k);
    let pooled = through_fc2.clone().narrow(0, k, k);
    let mean_direction = through_fc2.narrow(0, 2 * k, 1);
    let max_columns = fc2_t.select(0, g.argmax.clone()) * gamma.reshape([c, 1]).select(0, g.argmax.clone());
    let at_max = d.clone() * max_columns.clone();

    // Σ_p u_lp / (σ_p HW), u_lp = D_p ⊙ V g_lp: `[k, 4C]`.
    let spatial = g.spatial.clone().transpose();
    let u_mean = (weights.clone() * spatial.clone()).matmul(d.clone()) * attended.clone()
        + weights.clone().matmul(d.clone()) * pooled.clone()
        + (g.channel_mean.clone() * weights.clone()).matmul(d.clone()) * mean_direction.clone()
        + (g.channel_max.clone() * weights.clone()).matmul(at_max);

    // γn W1 / C and, per position, b_p = (γn x̂_p) W1 / C: fc1's output
    // less what its bias and the LayerNorm's bias added.
    let norm_bias = block.norm.bias.clone().unsqueeze::<2>();
    let through_fc1 = Tensor::cat(vec![norm_weight.clone(), norm_bias], 0).matmul(fc1.clone());
    let through_mean_direction = through_fc1.clone().narrow(0, 0, 1) / c as f32;
    let offset = through_fc1.narrow(0, 1, 1) + block.mlp.fc1.bias.clone().unsqueeze::<2>();
    let projections = (pass.hidden.clone() - offset) / c as f32;

    // u_lp . b_p, for the LayerNorm's last term: `[k, HW]`.
    let h = d * projections;
    let h_t = h.clone().transpose();
    let u_dot_b = attended.matmul(h_t.clone()) * spatial
        + pooled.matmul(h_t.clone())
        + g.channel_mean.clone() * mean_direction.matmul(h_t)
        + g.channel_max.clone() * (h * max_columns).sum_dim(1).transpose();

    let scaled = u_mean.clone().matmul(fc1.transpose()) * norm_weight;
    let through_mean = (u_mean * through_mean_direction).sum_dim(1);
    let through_projection = (u_dot_b * weights).matmul(pass.x_hat.clone());
    scaled - through_mean - through_projection
}
