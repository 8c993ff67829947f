//! Vector-Jacobian products of the backbone's layers, batched over labels
//! and written out per position: what the methods that need the whole
//! gradient (not only its spatial mean, `block_tail`) and the finer layer
//! use. Gradients are `[k, HW, C]`, one row of positions per label, in the
//! same (row-major, channels-last) order as the kept passes.

use crate::model::gelu::gelu_derivative;
use crate::model::{Block, BlockPass, Conv2d, LayerNorm};
use burn::tensor::Tensor;
use burn::tensor::module::conv_transpose2d;
use burn::tensor::ops::ConvTransposeOptions;

/// The gradient at a block's depthwise output from the gradient `g` at its
/// output: back through the layer scale, fc2, GELU, fc1 and the LayerNorm.
pub fn to_depthwise(block: &Block, pass: &BlockPass, g: Tensor<3>) -> Tensor<3> {
    let [k, hw, c] = g.dims();
    let hidden = pass.hidden.dims()[1];
    let g = g * block.gamma.clone().unsqueeze::<3>();
    let through_fc2 = g.reshape([k * hw, c]).matmul(block.mlp.fc2.weight.clone().transpose());
    let through_gelu = through_fc2.reshape([k, hw, hidden]) * gelu_derivative(pass.hidden.clone()).unsqueeze::<3>();
    let through_fc1 = through_gelu
        .reshape([k * hw, hidden])
        .matmul(block.mlp.fc1.weight.clone().transpose())
        .reshape([k, hw, c]);
    layer_norm(&block.norm, &pass.x_hat, &pass.inv_std, through_fc1)
}

/// The gradient at a block's input: the residual's plus the branch's,
/// through the depthwise conv's transpose.
pub fn through_block(block: &Block, pass: &BlockPass, g: Tensor<3>) -> Tensor<3> {
    let [_, _, h, w] = pass.depthwise.dims();
    let at_depthwise = to_depthwise(block, pass, g.clone());
    g + transposed_conv(&block.conv_dw, at_depthwise, [h, w], [h, w])
}

/// The gradient at a LayerNorm's input from `g` at its output, given its
/// normalised input and 1/std: (ĝ - mean ĝ - x̂ mean(ĝ x̂)) / σ, ĝ = γ g.
pub fn layer_norm(norm: &LayerNorm, x_hat: &Tensor<2>, inv_std: &Tensor<2>, g: Tensor<3>) -> Tensor<3> {
    let scaled = g * norm.weight.clone().unsqueeze::<3>();
    let along_x_hat = (scaled.clone() * x_hat.clone().unsqueeze::<3>()).mean_dim(2);
    let centred = scaled.clone() - scaled.mean_dim(2);
    (centred - x_hat.clone().unsqueeze::<3>() * along_x_hat) * inv_std.clone().unsqueeze::<3>()
}

/// The gradient at a convolution's input (`[k, H_in W_in, C_in]`) from
/// `g` at its output (`[k, H W, C_out]`): the transposed convolution with
/// the same weight. Rows and columns a strided conv dropped (PyTorch
/// floors the output size) get zero, as `padding_out`.
pub fn transposed_conv(conv: &Conv2d, g: Tensor<3>, [h, w]: [usize; 2], [h_in, w_in]: [usize; 2]) -> Tensor<3> {
    let [k, _, c_out] = g.dims();
    let maps = g.reshape([k, h, w, c_out]).permute([0, 3, 1, 2]);
    let (stride, padding) = (conv.stride(), conv.padding());
    let kernel = conv.weight.dims()[2];
    let size = |n: usize| (n - 1) * stride + kernel - 2 * padding;
    let options = ConvTransposeOptions::new(
        [stride; 2],
        [padding; 2],
        [h_in - size(h), w_in - size(w)],
        [1, 1],
        conv.groups(),
    );
    let input = conv_transpose2d(maps, conv.weight.clone(), None, options);
    let c_in = input.dims()[1];
    input.permute([0, 2, 3, 1]).reshape([k, h_in * w_in, c_in])
}
