//! From a decoded image to the model's input tensor, as the reference
//! pipeline: RGB -> resize (Pillow, antialiased) -> [0, 1] -> normalise.

mod resample;

pub use resample::{ResizeFilter, resize_plane};

use crate::image::XrayImage;
use serde::{Deserialize, Serialize};

/// How images are prepared for a model (part of its manifest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    #[serde(default = "default_size")]
    pub size: usize,
    #[serde(default = "default_mean")]
    pub mean: [f32; 3],
    #[serde(default = "default_std")]
    pub std: [f32; 3],
    #[serde(default)]
    pub resize_filter: ResizeFilter,
}

fn default_size() -> usize {
    384
}
/// The reference's normalisation, as it publishes it (in f64).
pub const REFERENCE_MEAN: f64 = 0.5029414296150208;
pub const REFERENCE_STD: f64 = 0.2892409563064575;

fn default_mean() -> [f32; 3] {
    [REFERENCE_MEAN as f32; 3]
}
fn default_std() -> [f32; 3] {
    [REFERENCE_STD as f32; 3]
}

impl Default for InputConfig {
    fn default() -> Self {
        Self {
            size: default_size(),
            mean: default_mean(),
            std: default_std(),
            resize_filter: ResizeFilter::default(),
        }
    }
}

impl InputConfig {
    /// The resized 8-bit RGB planes, before normalisation.
    pub fn resize(&self, image: &XrayImage) -> [Vec<u8>; 3] {
        let resize = |plane: &Vec<u8>| {
            resize_plane(
                plane,
                image.width,
                image.height,
                self.size,
                self.size,
                self.resize_filter,
            )
        };
        match image.planes.as_slice() {
            // Grey replicated to three channels: resize once.
            [grey] => {
                let r = resize(grey);
                [r.clone(), r.clone(), r]
            }
            [r, g, b] => [resize(r), resize(g), resize(b)],
            _ => unreachable!("decode_image yields one or three planes"),
        }
    }

    /// Normalised CHW floats for resized planes.
    pub fn normalise(&self, planes: &[Vec<u8>; 3]) -> Vec<f32> {
        planes
            .iter()
            .enumerate()
            .flat_map(|(c, plane)| {
                let (mean, std) = (self.mean[c], self.std[c]);
                plane.iter().map(move |&v| (v as f32 / 255.0 - mean) / std)
            })
            .collect()
    }

    /// `[3, size, size]` normalised input for one image.
    pub fn prepare(&self, image: &XrayImage) -> Vec<f32> {
        self.normalise(&self.resize(image))
    }
}
