//! One image's pass through a member's backbone, with the last block's
//! intermediates kept: prediction reads its output, Grad-CAM
//! differentiates it without running it again.

use super::ConvNeXtWithMetadata;
use super::block::Block;
use super::gelu::gelu;
use burn::tensor::Tensor;

/// A ConvNeXt block's forward pass (`Block::forward`, written out) with
/// what its backward pass needs kept.
pub struct BlockPass {
    /// The depthwise conv's output, `[N, C, H, W]`: a Grad-CAM target.
    pub depthwise: Tensor<4>,
    /// The LayerNorm: normalised input `[NHW, C]`, 1/std `[NHW, 1]`.
    pub x_hat: Tensor<2>,
    pub inv_std: Tensor<2>,
    /// `mlp.fc1`'s output, `[NHW, 4C]`.
    pub hidden: Tensor<2>,
    /// The block's output, `[N, C, H, W]`.
    pub output: Tensor<4>,
}

impl BlockPass {
    pub fn new(block: &Block, input: Tensor<4>) -> Self {
        let depthwise = block.conv_dw.forward(input.clone());
        let [n, c, h, w] = depthwise.dims();
        let rows = depthwise.clone().permute([0, 2, 3, 1]).reshape([n * h * w, c]);
        let (x_hat, inv_std) = normalised_rows(rows, block.norm.eps());
        let x = x_hat.clone() * block.norm.weight.clone().unsqueeze::<2>() + block.norm.bias.clone().unsqueeze::<2>();
        let hidden = block.mlp.fc1.forward(x);
        let out = block.mlp.fc2.forward(gelu(hidden.clone())) * block.gamma.clone().unsqueeze::<2>();
        let output = out.reshape([n, h, w, c]).permute([0, 3, 1, 2]) + input;
        Self {
            depthwise,
            x_hat,
            inv_std,
            hidden,
            output,
        }
    }
}

/// A LayerNorm's first half over each row: `(x - mean) / std` and `1 / std`.
pub fn normalised_rows(rows: Tensor<2>, eps: f64) -> (Tensor<2>, Tensor<2>) {
    let centred = rows.clone() - rows.mean_dim(1);
    let variance = (centred.clone() * centred.clone()).mean_dim(1);
    let inv_std = variance.add_scalar(eps).sqrt().recip();
    (centred * inv_std.clone(), inv_std)
}

pub struct BackboneState {
    /// The normalised image the pass ran on, `[N, 3, S, S]`: what the
    /// faithfulness measures perturb.
    pub images: Tensor<4>,
    /// The input of the previous stage's last block, `[N, C, H, W]`
    /// (absent with a single stage): where the finer Grad-CAM layer's
    /// maps start again, instead of running the trunk a second time.
    pub previous_stage_block_input: Option<Tensor<4>>,
    /// The last block's pass: the reference's Grad-CAM target is its
    /// depthwise conv.
    pub last_block: BlockPass,
    /// The backbone's output, `[N, C, H, W]` (the last block's output).
    pub features: Tensor<4>,
}

impl BackboneState {
    /// `model`'s backbone on normalised images `[N, 3, H, W]`: everything
    /// before the last block in the device's layout, then the last block.
    pub fn new(model: &ConvNeXtWithMetadata, images: Tensor<4>) -> Self {
        let block = model.convnext_backbone.last_block();
        let trunk = model.convnext_backbone.forward_until_last_block(images.clone());
        let last_block = BlockPass::new(block, trunk.before_last_block);
        Self {
            images,
            previous_stage_block_input: trunk.previous_stage_block_input,
            features: last_block.output.clone(),
            last_block,
        }
    }
}
