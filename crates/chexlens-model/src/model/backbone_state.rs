//! One image's pass through a member's backbone, with the last block's
//! intermediates kept: prediction reads its output, Grad-CAM
//! differentiates it without running it again.

use super::ConvNeXtWithMetadata;
use super::gelu::gelu;
use burn::tensor::Tensor;

pub struct BackboneState {
    /// The last block's depthwise conv output, `[N, C, H, W]`: the
    /// reference's Grad-CAM target.
    pub depthwise: Tensor<4>,
    /// The last block's LayerNorm: normalised input `[NHW, C]`, 1/std `[NHW, 1]`.
    pub x_hat: Tensor<2>,
    pub inv_std: Tensor<2>,
    /// `mlp.fc1`'s output, `[NHW, 4C]`.
    pub hidden: Tensor<2>,
    /// The backbone's output, `[N, C, H, W]`.
    pub features: Tensor<4>,
}

impl BackboneState {
    /// `model`'s backbone on normalised images `[N, 3, H, W]`: everything
    /// before the last block in the device's layout, then the last block
    /// (`Block::forward`, written out to keep its intermediates).
    pub fn new(model: &ConvNeXtWithMetadata, images: Tensor<4>) -> Self {
        let block = model.convnext_backbone.last_block();
        let shortcut = model.convnext_backbone.forward_until_last_block(images);
        let depthwise = block.conv_dw.forward(shortcut.clone());
        let [n, c, h, w] = depthwise.dims();
        let rows = depthwise.clone().permute([0, 2, 3, 1]).reshape([n * h * w, c]);
        let centred = rows.clone() - rows.mean_dim(1);
        let variance = (centred.clone() * centred.clone()).mean_dim(1);
        let inv_std = variance.add_scalar(block.norm.eps()).sqrt().recip();
        let x_hat = centred * inv_std.clone();
        let x = x_hat.clone() * block.norm.weight.clone().unsqueeze::<2>() + block.norm.bias.clone().unsqueeze::<2>();
        let hidden = block.mlp.fc1.forward(x);
        let out = block.mlp.fc2.forward(gelu(hidden.clone())) * block.gamma.clone().unsqueeze::<2>();
        let features = out.reshape([n, h, w, c]).permute([0, 3, 1, 2]) + shortcut;
        Self {
            depthwise,
            x_hat,
            inv_std,
            hidden,
            features,
        }
    }
}
