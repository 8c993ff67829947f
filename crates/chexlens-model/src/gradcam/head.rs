//! The head's gradient for each label at the backbone's features, by hand.
//!
//! The head is CBAM, a spatial mean and a linear classifier, so the
//! gradient of label l's logit at position p, channel c has a fixed form:
//!
//!   G_l[p,c] = ca[c] (sa[p] w_l[c] / HW + μ_l[p] / C + ν_l[p] [c = m_p]) + κ_l[c] / HW
//!
//! with w_l the classifier's weights for l over the pooled channels, ca and
//! sa the channel and spatial attention, μ_l and ν_l the gradients at the
//! spatial attention's channel-mean and channel-max maps, m_p the channel
//! that max picked, and κ_l the gradient through the channel attention's
//! pooling (the same at every position). Kept in this form, the last
//! block's backward needs no per-position matrix products (`block_tail`).
//! The metadata branch is added to the pooled features before the
//! classifier and does not touch the gradient.

use crate::model::ConvNeXtWithMetadata;
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::module::conv_transpose2d;
use burn::tensor::ops::ConvTransposeOptions;
use burn::tensor::{Int, Tensor, TensorData};

/// `G_l` for `k` labels over one image's `HW` positions and `C` channels.
pub struct HeadGradients {
    /// ca ⊙ w_l / HW, the part scaled by sa[p]: `[k, C]`.
    pub attended: Tensor<2>,
    /// sa: `[HW, 1]`.
    pub spatial: Tensor<2>,
    /// κ_l / HW: `[k, C]`.
    pub pooled: Tensor<2>,
    /// ca / C, the direction μ_l[p] scales: `[1, C]`.
    pub mean_direction: Tensor<2>,
    /// μ_l: `[k, HW]`.
    pub channel_mean: Tensor<2>,
    /// ν_l[p] ca[m_p]: `[k, HW]`.
    pub channel_max: Tensor<2>,
    /// m_p: `[HW]`.
    pub argmax: Tensor<1, Int>,
    /// [c = m_p]: `[HW, C]`.
    pub argmax_mask: Tensor<2>,
}

impl HeadGradients {
    /// The gradients for `labels` at `features` (`[1, C, H, W]`).
    pub fn new(model: &ConvNeXtWithMetadata, features: Tensor<4>, labels: &[usize]) -> Self {
        let [_, c, h, w] = features.dims();
        let (hw, k) = (h * w, labels.len());
        let device = features.device();
        let f = features.reshape([c, hw]).transpose();
        let cbam = &model.cbam;

        // Forward, keeping what the backward needs.
        let reduced = f.clone().mean_dim(0).matmul(cbam.channel_reduce.clone());
        let ca = sigmoid(relu(reduced.clone()).matmul(cbam.channel_expand.clone()));
        let x = f.clone() * ca.clone();
        let (max_map, argmax) = x.clone().max_dim_with_indices(1);
        let maps = Tensor::cat(vec![x.clone().mean_dim(1), max_map], 1)
            .transpose()
            .reshape([1, 2, h, w]);
        let spatial = sigmoid(cbam.spatial.forward(maps)).reshape([hw, 1]);
        let argmax = argmax.reshape([hw]);
        let argmax_mask = Tensor::<1, Int>::arange(0..c as i64, &device)
            .reshape([1, c])
            .expand([hw, c])
            .equal(argmax.clone().reshape([hw, 1]).expand([hw, c]))
            .float();

        // Backward: w_l from the classifier rows of the pooled channels.
        let selected = Tensor::<1, Int>::from_data(
            TensorData::new(labels.iter().map(|&l| l as i64).collect::<Vec<_>>(), [k]),
            &device,
        );
        let w_labels = model
            .classifier
            .weight
            .clone()
            .narrow(0, 0, c)
            .select(1, selected)
            .transpose();
        let n = hw as f32;
        // Spatial attention: d sa[p] = x_p . w_l / HW, through its sigmoid and conv.
        let spatial_row = spatial.clone().transpose();
        let d_spatial = w_labels.clone().matmul(x.clone().transpose()) / n
            * (spatial_row.clone() * (spatial_row.neg().add_scalar(1.0)));
        let kernel = cbam.spatial.weight.dims()[2];
        let d_maps = conv_transpose2d(
            d_spatial.reshape([k, 1, h, w]),
            cbam.spatial.weight.clone(),
            None,
            ConvTransposeOptions::new([1, 1], [kernel / 2; 2], [0, 0], [1, 1], 1),
        );
        let channel_mean = d_maps.clone().narrow(1, 0, 1).reshape([k, hw]);
        let d_max = d_maps.narrow(1, 1, 1).reshape([k, hw]);

        // Channel attention: d ca[c] = sum_p dx[p,c] f[p,c], then its sigmoid,
        // the expanding and (ReLU) reducing 1x1 convs, and the pooling mean.
        let d_ca = w_labels.clone() * spatial.clone().transpose().matmul(f.clone()) / n
            + channel_mean.clone().matmul(f.clone()) / c as f32
            + d_max.clone().matmul(argmax_mask.clone() * f);
        let d_reduced = (d_ca * (ca.clone() * ca.clone().neg().add_scalar(1.0)))
            .matmul(cbam.channel_expand.clone().transpose())
            * reduced.greater_elem(0.0).float();
        let kappa = d_reduced.matmul(cbam.channel_reduce.clone().transpose());

        let ca_at_max = (argmax_mask.clone() * ca.clone()).sum_dim(1).transpose();
        Self {
            attended: w_labels * ca.clone() / n,
            spatial,
            pooled: kappa / n,
            mean_direction: ca / c as f32,
            channel_mean,
            channel_max: d_max * ca_at_max,
            argmax,
            argmax_mask,
        }
    }

    /// G_l written out: `[k, HW, C]`.
    pub fn dense(&self) -> Tensor<3> {
        let [k, hw] = self.channel_mean.dims();
        let attended = self.attended.clone().unsqueeze_dim::<3>(1) * self.spatial.clone().unsqueeze::<3>();
        let mean = self.channel_mean.clone().reshape([k, hw, 1]) * self.mean_direction.clone().unsqueeze::<3>();
        let max = self.channel_max.clone().reshape([k, hw, 1]) * self.argmax_mask.clone().unsqueeze::<3>();
        attended + mean + max + self.pooled.clone().unsqueeze_dim::<3>(1)
    }
}
