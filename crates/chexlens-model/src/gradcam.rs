//! Grad-CAM as pytorch-grad-cam computes it, for any label and member:
//! cam = ReLU(sum_c mean_hw(dScore/dA_c) * A_c) at the target layer, then
//! min-max scaled (`(x - min) / (max + 1e-7)` after subtracting the min).
//!
//! The backbone runs once, without gradients, up to the target layer; only
//! what follows it runs under autodiff, with one copy of the activation per
//! requested label in a batch, so a single backward pass yields every label's
//! gradient.

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

/// A heat map, row-major, values in [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct CamMap {
    pub width: usize,
    pub height: usize,
    pub values: Vec<f32>,
}

impl CamMap {
    /// pytorch-grad-cam's `scale_cam_image`: shift to zero, divide by max + 1e-7.
    pub fn scaled(width: usize, height: usize, mut values: Vec<f32>) -> Self {
        let min = values.iter().copied().fold(f32::INFINITY, f32::min);
        values.iter_mut().for_each(|v| *v -= min);
        let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        values.iter_mut().for_each(|v| *v /= 1e-7 + max);
        Self { width, height, values }
    }

    /// The ensemble's map: mean of the members' scaled maps, scaled again.
    pub fn ensemble(maps: &[CamMap]) -> Option<Self> {
        let first = maps.first()?;
        let mut mean = vec![0f32; first.values.len()];
        for map in maps {
            mean.iter_mut()
                .zip(&map.values)
                .for_each(|(m, v)| *m += v / maps.len() as f32);
        }
        Some(Self::scaled(first.width, first.height, mean))
    }

    /// Bilinear resize with half-pixel centres (OpenCV's INTER_LINEAR on
    /// floats, as pytorch-grad-cam resizes), then scaled again.
    pub fn upsampled(&self, width: usize, height: usize) -> Self {
        let axis = |out: usize, src: usize| -> Vec<(usize, usize, f32)> {
            let scale = src as f32 / out as f32;
            (0..out)
                .map(|o| {
                    let pos = ((o as f32 + 0.5) * scale - 0.5).max(0.0);
                    let i0 = (pos.floor() as usize).min(src - 1);
                    let i1 = (i0 + 1).min(src - 1);
                    (i0, i1, if i0 == src - 1 { 0.0 } else { pos - i0 as f32 })
                })
                .collect()
        };
        let xs = axis(width, self.width);
        let ys = axis(height, self.height);
        let at = |x: usize, y: usize| self.values[y * self.width + x];
        let mut values = Vec::with_capacity(width * height);
        for &(y0, y1, fy) in &ys {
            for &(x0, x1, fx) in &xs {
                let top = at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx;
                let bottom = at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx;
                values.push(top * (1.0 - fy) + bottom * fy);
            }
        }
        Self::scaled(width, height, values)
    }
}

impl ConvNeXtWithMetadata {
    /// Unscaled maps (ReLU applied), `[labels, H, W]`, for one image
    /// (`images` is `[1, 3, S, S]`, `metadata` `[1, 8]`).
    pub fn grad_cam_raw(
        &self,
        images: Tensor<4>,
        metadata: Tensor<2>,
        labels: &[usize],
        target: CamTarget,
    ) -> Tensor<3> {
        let k = labels.len().max(1);
        let backbone = &self.convnext_backbone;
        let Some((last_stage, earlier)) = backbone.stages.split_last() else {
            unreachable!("an architecture has at least one stage (checked on load)")
        };
        let x = earlier.iter().fold(backbone.stem(images), |x, s| s.forward(x));
        let x = last_stage.downsample_input(x);
        let Some((last_block, blocks)) = last_stage.blocks.split_last() else {
            unreachable!("a stage has at least one block (checked on load)")
        };
        let x = blocks.iter().fold(x, |x, b| b.forward(x));

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

    /// Scaled maps at the target layer's resolution, one per label (native backends).
    pub fn grad_cam(&self, images: Tensor<4>, metadata: Tensor<2>, labels: &[usize], target: CamTarget) -> Vec<CamMap> {
        if labels.is_empty() {
            return Vec::new();
        }
        let raw = self.grad_cam_raw(images, metadata, labels, target);
        maps_from_raw(raw.dims(), raw.into_data().try_to_vec::<f32>().unwrap_or_default())
    }
}

/// Splits read-back `[labels, H, W]` values into scaled maps.
pub fn maps_from_raw(dims: [usize; 3], values: Vec<f32>) -> Vec<CamMap> {
    let [_, h, w] = dims;
    values
        .chunks_exact(h * w)
        .map(|c| CamMap::scaled(w, h, c.to_vec()))
        .collect()
}

/// OpenCV's COLORMAP_JET for a value in [0, 1], as RGB.
pub fn jet(v: f32) -> [u8; 3] {
    let channel = |centre: f32| ((1.5 - (4.0 * v - centre).abs()).clamp(0.0, 1.0) * 255.0).round() as u8;
    [channel(3.0), channel(2.0), channel(1.0)]
}

/// pytorch-grad-cam's `show_cam_on_image`: JET heat map blended with the image
/// (`image_weight` of the image, default 0.5), divided by its maximum.
/// `image_rgb` is interleaved RGB of the map's size; returns RGB.
pub fn overlay(image_rgb: &[u8], map: &CamMap, image_weight: f32) -> Vec<u8> {
    let blended: Vec<f32> = map
        .values
        .iter()
        .zip(image_rgb.chunks_exact(3))
        .flat_map(|(&v, px)| {
            // The reference quantises the map to 8 bits before colouring.
            let heat = jet((255.0 * v).floor().clamp(0.0, 255.0) / 255.0);
            (0..3).map(move |c| (1.0 - image_weight) * heat[c] as f32 / 255.0 + image_weight * px[c] as f32 / 255.0)
        })
        .collect();
    let max = blended.iter().copied().fold(f32::EPSILON, f32::max);
    blended.iter().map(|v| (255.0 * v / max) as u8).collect()
}

impl crate::Ensemble {
    /// The ensemble's map for each label: every member's scaled map, combined
    /// by [`CamMap::ensemble`] (mean of scaled maps, scaled again). Native backends.
    pub fn grad_cam(
        &self,
        images: &Tensor<4>,
        metadata: &Tensor<2>,
        labels: &[usize],
        target: CamTarget,
    ) -> Vec<CamMap> {
        let per_member: Vec<Vec<CamMap>> = self
            .members
            .iter()
            .map(|m| m.grad_cam(images.clone(), metadata.clone(), labels, target))
            .collect();
        (0..labels.len())
            .filter_map(|i| CamMap::ensemble(&per_member.iter().map(|m| m[i].clone()).collect::<Vec<_>>()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_matches_scale_cam_image() {
        let m = CamMap::scaled(2, 1, vec![2.0, 6.0]);
        assert_eq!(m.values[0], 0.0);
        assert!((m.values[1] - 4.0 / (4.0 + 1e-7)).abs() < 1e-7);
    }

    #[test]
    fn upsampling_a_constant_ramp_keeps_its_ends() {
        let m = CamMap {
            width: 2,
            height: 1,
            values: vec![0.0, 1.0],
        };
        let up = m.upsampled(8, 1);
        assert_eq!(up.values.len(), 8);
        assert_eq!(up.values[0], 0.0);
        assert!(up.values.windows(2).all(|w| w[0] <= w[1]));
        assert!((up.values[7] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn jet_runs_blue_to_red() {
        assert_eq!(jet(0.0), [0, 0, 128]);
        assert_eq!(jet(1.0), [128, 0, 0]);
        assert_eq!(jet(0.5), [128, 255, 128]);
    }
}
