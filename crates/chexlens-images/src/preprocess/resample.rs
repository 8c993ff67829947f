//! Pillow's `Image.resize` for 8-bit images, reproduced exactly: separable
//! convolution with an antialiasing support that grows with the downscale,
//! fixed-point coefficients (22 fractional bits) and a rounded 8-bit
//! intermediate after the horizontal pass (libImaging/Resample.c).

use serde::{Deserialize, Serialize};

const PRECISION_BITS: u32 = 32 - 8 - 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResizeFilter {
    /// torchvision's default for `Resize` on PIL images.
    #[default]
    Bilinear,
    Bicubic,
}

impl ResizeFilter {
    fn support(self) -> f64 {
        match self {
            Self::Bilinear => 1.0,
            Self::Bicubic => 2.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        let x = x.abs();
        match self {
            Self::Bilinear => {
                if x < 1.0 {
                    1.0 - x
                } else {
                    0.0
                }
            }
            Self::Bicubic => {
                const A: f64 = -0.5;
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
        }
    }
}

/// Per output pixel: first input index and fixed-point weights.
struct Coefficients {
    starts: Vec<usize>,
    weights: Vec<Vec<i32>>,
}

fn coefficients(in_size: usize, out_size: usize, filter: ResizeFilter) -> Coefficients {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = filter.support() * filter_scale;
    let mut starts = Vec::with_capacity(out_size);
    let mut weights = Vec::with_capacity(out_size);
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        // C's (int) cast truncates toward zero; the clamp makes that a floor here.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let raw: Vec<f64> = (xmin..xmax)
            .map(|x| filter.weight((x as f64 - center + 0.5) / filter_scale))
            .collect();
        let total: f64 = raw.iter().sum();
        let fixed = raw
            .iter()
            .map(|&w| {
                let w = if total != 0.0 { w / total } else { w };
                let scaled = w * (1u32 << PRECISION_BITS) as f64;
                if scaled < 0.0 {
                    (scaled - 0.5) as i32
                } else {
                    (scaled + 0.5) as i32
                }
            })
            .collect();
        starts.push(xmin);
        weights.push(fixed);
    }
    Coefficients { starts, weights }
}

fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

fn convolve(c: &Coefficients, sample: impl Fn(usize) -> u8) -> impl Fn(usize) -> u8 {
    move |out: usize| {
        let start = c.starts[out];
        let acc = c.weights[out]
            .iter()
            .enumerate()
            .fold(1i64 << (PRECISION_BITS - 1), |acc, (i, &w)| {
                acc + sample(start + i) as i64 * w as i64
            });
        clip8(acc)
    }
}

/// Resizes one 8-bit plane (`width * height`, row-major) as Pillow does.
pub fn resize_plane(
    plane: &[u8],
    width: usize,
    height: usize,
    out_width: usize,
    out_height: usize,
    filter: ResizeFilter,
) -> Vec<u8> {
    // Pillow skips a pass whose size does not change.
    let horizontal = if out_width != width {
        let c = coefficients(width, out_width, filter);
        let mut tmp = vec![0u8; out_width * height];
        for y in 0..height {
            let row = &plane[y * width..(y + 1) * width];
            let f = convolve(&c, |x| row[x]);
            for (x, v) in tmp[y * out_width..(y + 1) * out_width].iter_mut().enumerate() {
                *v = f(x);
            }
        }
        tmp
    } else {
        plane.to_vec()
    };
    if out_height == height {
        return horizontal;
    }
    let c = coefficients(height, out_height, filter);
    let mut out = vec![0u8; out_width * out_height];
    for x in 0..out_width {
        let f = convolve(&c, |y| horizontal[y * out_width + x]);
        for y in 0..out_height {
            out[y * out_width + x] = f(y);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_planes_stay_constant_and_identity_is_a_copy() {
        let plane = vec![77u8; 50 * 40];
        assert!(
            resize_plane(&plane, 50, 40, 13, 17, ResizeFilter::Bicubic)
                .iter()
                .all(|&v| v == 77)
        );
        let ramp: Vec<u8> = (0..64).map(|v| v as u8).collect();
        assert_eq!(resize_plane(&ramp, 8, 8, 8, 8, ResizeFilter::Bilinear), ramp);
    }
}
