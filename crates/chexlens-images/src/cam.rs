//! Heat maps as pytorch-grad-cam scales, resizes and draws them. Pure data:
//! no tensors, so the page uses it on any backend.

use crate::image::XrayImage;
use crate::png::encode_rgb_png;
use crate::preprocess::{ResizeFilter, resize_plane};
use serde::{Deserialize, Serialize};

/// The explanation methods, named as `--cam-method` takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum CamMethod {
    /// Grad-CAM: channels weighted by their mean gradient.
    #[default]
    #[serde(rename = "gradcam")]
    GradCam,
    /// Layer-CAM: each position weighted by its positive gradient.
    #[serde(rename = "layercam")]
    LayerCam,
    #[serde(rename = "gradcam++")]
    GradCamPlusPlus,
    #[serde(rename = "xgradcam")]
    XGradCam,
    /// HiResCAM: gradient times activation, summed over channels.
    #[serde(rename = "hirescam")]
    HiResCam,
    #[serde(rename = "gradcam-elementwise")]
    GradCamElementWise,
    /// EigenCAM: the activations' first principal component (no label).
    #[serde(rename = "eigencam")]
    EigenCam,
    #[serde(rename = "eigengradcam")]
    EigenGradCam,
}

impl CamMethod {
    pub const ALL: [Self; 8] = [
        Self::GradCam,
        Self::LayerCam,
        Self::GradCamPlusPlus,
        Self::XGradCam,
        Self::HiResCam,
        Self::GradCamElementWise,
        Self::EigenCam,
        Self::EigenGradCam,
    ];

    /// The name the CLI takes and the exports carry.
    pub fn name(self) -> &'static str {
        match self {
            Self::GradCam => "gradcam",
            Self::LayerCam => "layercam",
            Self::GradCamPlusPlus => "gradcam++",
            Self::XGradCam => "xgradcam",
            Self::HiResCam => "hirescam",
            Self::GradCamElementWise => "gradcam-elementwise",
            Self::EigenCam => "eigencam",
            Self::EigenGradCam => "eigengradcam",
        }
    }

    /// The method as its paper and pytorch-grad-cam spell it.
    pub fn title(self) -> &'static str {
        match self {
            Self::GradCam => "Grad-CAM",
            Self::LayerCam => "Layer-CAM",
            Self::GradCamPlusPlus => "Grad-CAM++",
            Self::XGradCam => "XGrad-CAM",
            Self::HiResCam => "HiResCAM",
            Self::GradCamElementWise => "Grad-CAM element-wise",
            Self::EigenCam => "EigenCAM",
            Self::EigenGradCam => "EigenGrad-CAM",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// EigenCAM ignores the label: one map for all.
    pub fn uses_gradients(self) -> bool {
        self != Self::EigenCam
    }

    /// What a reader must know about this method's maps, shown beside them
    /// and carried in exports.
    pub fn caveat(self) -> Option<&'static str> {
        match self {
            // Both layers are depthwise convs feeding a LayerNorm, which ignores
            // its input's scale and shift (chexlens-model's tests/cam_methods.rs).
            Self::HiResCam => Some(
                "HiResCAM is rounding noise at these layers: each feeds a LayerNorm, which ignores \
                 its input's scale, so gradient x activation sums to zero at every position (in \
                 pytorch-grad-cam too). Grad-CAM element-wise keeps only the positive terms and is \
                 not affected.",
            ),
            Self::EigenCam => Some("EigenCAM does not depend on the finding: every finding has the same map."),
            _ => None,
        }
    }
}

/// The layer whose activations and gradients make the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum CamLayer {
    /// The reference's: the depthwise 7x7 conv of the last block of the
    /// last stage (the backbone's last `Conv2d`), 12x12 at 384 px.
    #[default]
    #[serde(rename = "last")]
    Last,
    /// The depthwise conv of the last block of the previous stage
    /// (`stages_2` in the real checkpoints), 24x24 at 384 px.
    #[serde(rename = "stages_2")]
    Stages2,
}

impl CamLayer {
    pub const ALL: [Self; 2] = [Self::Last, Self::Stages2];

    pub fn name(self) -> &'static str {
        match self {
            Self::Last => "last",
            Self::Stages2 => "stages_2",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.name() == name)
    }

    /// The checkpoint's name for the target conv.
    pub fn module(self) -> &'static str {
        match self {
            Self::Last => "stages_3.blocks[-1].conv_dw",
            Self::Stages2 => "stages_2.blocks[-1].conv_dw",
        }
    }
}

/// Which map: the method and the layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CamSettings {
    #[serde(default)]
    pub method: CamMethod,
    #[serde(default)]
    pub layer: CamLayer,
}

/// A heat map, row-major, values in [0, 1].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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

    /// The ensemble's map for each label from per-member maps (`members x labels`).
    pub fn ensemble_per_label(per_member: &[Vec<CamMap>]) -> Vec<CamMap> {
        let labels = per_member.first().map_or(0, Vec::len);
        (0..labels)
            .filter_map(|i| Self::ensemble(&per_member.iter().map(|m| m[i].clone()).collect::<Vec<_>>()))
            .collect()
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

/// An overlay PNG's file name: the image's stem, then the label, as
/// `chexlens predict --cam` and the page's overlay export both name them.
pub fn overlay_file_name(stem: &str, label: &str) -> String {
    format!("{stem}_{}.png", chexlens_chexpert::labels::file_slug(label))
}

/// A size scaled down to fit a square of `side`, never up, at least one
/// pixel each way (the page's previews and the overlays it exports).
pub fn fit_within(width: usize, height: usize, side: usize) -> (usize, usize) {
    let scale = (side as f64 / width.max(height).max(1) as f64).min(1.0);
    let fit = |n: usize| ((n as f64 * scale).round() as usize).max(1);
    (fit(width), fit(height))
}

/// An image made ready to carry heat maps: RGB at the size the overlays
/// are written at. The CLI's `--cam` and the page's overlay export both
/// draw through it, so their overlays are made alike.
pub struct OverlayBase {
    pub width: usize,
    pub height: usize,
    rgb: Vec<u8>,
}

impl OverlayBase {
    /// The image at its own size, or scaled to fit `max_side` (bilinear).
    pub fn new(image: &XrayImage, max_side: Option<usize>) -> Self {
        let (width, height) = max_side.map_or((image.width, image.height), |side| {
            fit_within(image.width, image.height, side)
        });
        let planes: Vec<Vec<u8>> = if (width, height) == (image.width, image.height) {
            image.planes.clone()
        } else {
            image
                .planes
                .iter()
                .map(|p| resize_plane(p, image.width, image.height, width, height, ResizeFilter::Bilinear))
                .collect()
        };
        let scaled = XrayImage { width, height, planes };
        let rgb = scaled
            .to_rgba()
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        Self { width, height, rgb }
    }

    /// `map` drawn over the image at half weight (pytorch-grad-cam's default), as RGB.
    pub fn overlay_rgb(&self, map: &CamMap) -> Vec<u8> {
        overlay(&self.rgb, &map.upsampled(self.width, self.height), 0.5)
    }

    /// [`OverlayBase::overlay_rgb`] as a PNG file.
    pub fn overlay_png(&self, map: &CamMap) -> Result<Vec<u8>, String> {
        encode_rgb_png(&self.overlay_rgb(map), self.width, self.height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlays_are_drawn_at_the_fitted_size_from_the_image_itself() {
        assert_eq!(fit_within(2000, 1000, 512), (512, 256));
        assert_eq!(fit_within(300, 200, 512), (300, 200), "never scaled up");
        assert_eq!(fit_within(10_000, 1, 512), (512, 1), "at least a pixel");
        let grey: Vec<u8> = (0..8 * 4).map(|i| (i * 7) as u8).collect();
        let image = XrayImage {
            width: 8,
            height: 4,
            planes: vec![grey.clone()],
        };
        let map = CamMap::scaled(2, 2, vec![0.0, 1.0, 0.5, 0.25]);
        let full = OverlayBase::new(&image, None);
        let rgb: Vec<u8> = grey.iter().flat_map(|&g| [g, g, g]).collect();
        assert_eq!((full.width, full.height), (8, 4));
        assert_eq!(full.overlay_rgb(&map), overlay(&rgb, &map.upsampled(8, 4), 0.5));
        let small = OverlayBase::new(&image, Some(4));
        assert_eq!((small.width, small.height), (4, 2));
        let expected: Vec<u8> = resize_plane(&grey, 8, 4, 4, 2, ResizeFilter::Bilinear)
            .iter()
            .flat_map(|&g| [g, g, g])
            .collect();
        assert_eq!(small.overlay_rgb(&map), overlay(&expected, &map.upsampled(4, 2), 0.5));
        let png = small.overlay_png(&map).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }

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
