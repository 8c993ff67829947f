//! A grey image's values at the depth its file stores them: what
//! window/level and the pixel probe work on. Display only: the model
//! always sees the 8-bit image that `decode_xray` makes.

use crate::image::MAX_PIXELS;
use crate::window::{MIN_WINDOW_WIDTH, Window, WindowFunction};
use serde::{Deserialize, Serialize};

/// A window with the name it is offered under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedWindow {
    pub name: String,
    pub window: Window,
}

/// Where the values come from, which decides what the probe calls them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LevelsSource {
    /// A DICOM frame: stored values, and modality values after its rescale.
    Dicom,
    /// A grey PNG or JPEG: its samples (16, 12 or 8 bits).
    Raster,
}

/// Everything about the values but the values (small: sent as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelsInfo {
    pub source: LevelsSource,
    pub width: usize,
    pub height: usize,
    pub bits_stored: u16,
    pub signed: bool,
    /// Modality value = stored x slope + intercept (DICOM's rescale; 1 and 0 otherwise).
    pub slope: f64,
    pub intercept: f64,
    /// The modality values' unit (Rescale Type, "HU" for CT), where known.
    pub unit: Option<String>,
    /// The windows the file offers, in its order.
    pub file_windows: Vec<NamedWindow>,
    /// MONOCHROME1: the lowest value is white.
    pub invert: bool,
    /// How the decoder made the 8-bit image the model sees.
    pub decoded_with: DecodedWith,
}

/// How the 8-bit image was made from the values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum DecodedWith {
    Window(Window),
    /// The image's own lowest to highest value.
    FullRange,
    /// A DICOM VOI LUT: no window gives it.
    Lut,
}

/// A grey image's stored values, row by row, as 16-bit words (two's
/// complement where signed: Bits Stored is at most 16).
#[derive(Debug, Clone, PartialEq)]
pub struct GreyLevels {
    pub info: LevelsInfo,
    pub words: Vec<u16>,
}

/// CT's usual windows (OHIF's presets), offered for values in Hounsfield units.
const HU_PRESETS: [(&str, f64, f64); 3] = [
    ("Lung", -600.0, 1500.0),
    ("Soft tissue", 40.0, 400.0),
    ("Bone", 480.0, 2500.0),
];

impl GreyLevels {
    /// From values already sign-extended (a DICOM frame's) or unsigned samples.
    pub fn new(info: LevelsInfo, values: impl Iterator<Item = i32>) -> Self {
        Self {
            words: values.map(|v| v as u16).collect(),
            info,
        }
    }

    /// Rebuilt from the bytes [`GreyLevels::to_le_bytes`] gave; `None` when
    /// they do not fit the info's size, or the size passes the image limit.
    pub fn from_le_bytes(info: LevelsInfo, bytes: &[u8]) -> Option<Self> {
        let pixels = (info.width as u64).checked_mul(info.height as u64)?;
        if pixels == 0 || pixels > MAX_PIXELS || bytes.len() as u64 != pixels * 2 || info.bits_stored > 16 {
            return None;
        }
        let words = bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        Some(Self { info, words })
    }

    pub fn to_le_bytes(&self) -> Vec<u8> {
        self.words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    fn value(&self, word: u16) -> i32 {
        if self.info.signed {
            word as i16 as i32
        } else {
            word as i32
        }
    }

    /// The stored value at pixel (`x`, `y`), if inside the image.
    pub fn stored(&self, x: usize, y: usize) -> Option<i32> {
        (x < self.info.width && y < self.info.height).then(|| self.value(self.words[y * self.info.width + x]))
    }

    pub fn modality(&self, stored: i32) -> f64 {
        stored as f64 * self.info.slope + self.info.intercept
    }

    /// Every pixel's modality value, row by row.
    pub fn modality_values(&self) -> impl Iterator<Item = f64> + '_ {
        self.words.iter().map(|&w| self.modality(self.value(w)))
    }

    /// The whole image through `window`, 8-bit, at full size.
    pub fn render(&self, window: &Window) -> Vec<u8> {
        self.modality_values()
            .map(|v| window.grey(v, self.info.invert))
            .collect()
    }

    /// Modality values averaged over each preview pixel's footprint, at
    /// `width` x `height` (at most the image's size).
    pub fn preview(&self, width: usize, height: usize) -> PreviewLevels {
        let (sw, sh) = (self.info.width, self.info.height);
        let (width, height) = (width.clamp(1, sw), height.clamp(1, sh));
        let span = |i: usize, out: usize, source: usize| {
            (i * source / out, ((i + 1) * source / out).max(i * source / out + 1))
        };
        // Each row's columns summed first, so that every value is read once.
        let columns: Vec<(usize, usize)> = (0..width).map(|x| span(x, width, sw)).collect();
        let mut values = Vec::with_capacity(width * height);
        // The lowest and highest value are found in the same single pass.
        let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
        for y in 0..height {
            let (y0, y1) = span(y, height, sh);
            let mut sums = vec![0.0f64; width];
            for row in y0..y1 {
                let words = &self.words[row * sw..(row + 1) * sw];
                for (sum, &(x0, x1)) in sums.iter_mut().zip(&columns) {
                    for &word in &words[x0..x1] {
                        let v = self.modality(self.value(word));
                        (low, high) = (low.min(v), high.max(v));
                        *sum += v;
                    }
                }
            }
            for (sum, &(x0, x1)) in sums.iter().zip(&columns) {
                values.push((sum / ((x1 - x0) * (y1 - y0)) as f64) as f32);
            }
        }
        let mut presets = self.info.file_windows.clone();
        presets.push(NamedWindow {
            name: "Full range".into(),
            window: full_range(low, high),
        });
        presets.push(NamedWindow {
            name: "Auto (1st to 99th percentile)".into(),
            window: percentile_window(&values, 0.01, 0.99),
        });
        if self.info.unit.as_deref() == Some("HU") {
            presets.extend(HU_PRESETS.iter().map(|&(name, center, width)| NamedWindow {
                name: format!("{name} (L {center}, W {width})"),
                window: Window::linear(center, width),
            }));
        }
        PreviewLevels {
            width,
            height,
            values,
            low,
            high,
            presets,
            invert: self.info.invert,
            decoded_with: self.info.decoded_with,
        }
    }
}

/// The window that spans `low..=high` exactly (LINEAR_EXACT), as the
/// decoder's full-range display does.
pub fn full_range(low: f64, high: f64) -> Window {
    Window {
        center: (low + high) / 2.0,
        width: (high - low).max(MIN_WINDOW_WIDTH),
        function: WindowFunction::LinearExact,
    }
}

fn percentile_window(values: &[f32], low: f64, high: f64) -> Window {
    let mut sorted: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_unstable_by(f32::total_cmp);
    let at = |q: f64| {
        sorted
            .get(((sorted.len().saturating_sub(1)) as f64 * q).round() as usize)
            .copied()
            .unwrap_or(0.0) as f64
    };
    full_range(at(low), at(high))
}

/// A grey image's modality values at preview size, with the windows on offer.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewLevels {
    pub width: usize,
    pub height: usize,
    pub values: Vec<f32>,
    /// The full-size image's lowest and highest modality values.
    pub low: f64,
    pub high: f64,
    /// The file's windows, then the full range, a percentile stretch, and CT's for HU.
    pub presets: Vec<NamedWindow>,
    pub invert: bool,
    pub decoded_with: DecodedWith,
}

impl PreviewLevels {
    /// The window that gives the decoder's 8-bit image, where one does.
    pub fn decoded_window(&self) -> Option<Window> {
        match self.decoded_with {
            DecodedWith::Window(window) => Some(window),
            DecodedWith::FullRange => Some(full_range(self.low, self.high)),
            DecodedWith::Lut => None,
        }
    }

    /// The preview through `window`, 8-bit grey.
    pub fn render(&self, window: &Window) -> Vec<u8> {
        self.values
            .iter()
            .map(|&v| window.grey(v as f64, self.invert))
            .collect()
    }

    /// The window a drag of (`dx`, `dy`) preview pixels makes from `start`,
    /// as image viewers do: right widens, down raises the level (each
    /// pixel moves by a share of the image's value range).
    pub fn dragged(&self, start: &Window, dx: f64, dy: f64) -> Window {
        let per_pixel = ((self.high - self.low).max(MIN_WINDOW_WIDTH)) / self.width.max(self.height) as f64;
        Window::linear(start.center + dy * per_pixel, start.width + dx * per_pixel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(width: usize, height: usize, signed: bool) -> LevelsInfo {
        LevelsInfo {
            source: LevelsSource::Raster,
            width,
            height,
            bits_stored: 16,
            signed,
            slope: 1.0,
            intercept: 0.0,
            unit: None,
            file_windows: Vec::new(),
            invert: false,
            decoded_with: DecodedWith::FullRange,
        }
    }

    #[test]
    fn signed_values_survive_the_words_and_the_bytes() {
        let levels = GreyLevels::new(info(3, 1, true), [-1024, 0, 3071].into_iter());
        let back = GreyLevels::from_le_bytes(levels.info.clone(), &levels.to_le_bytes()).unwrap();
        assert_eq!(
            (back.stored(0, 0), back.stored(2, 0), back.stored(3, 0)),
            (Some(-1024), Some(3071), None)
        );
        assert!(
            GreyLevels::from_le_bytes(info(3, 1, true), &[0; 4]).is_none(),
            "too few bytes"
        );
        assert!(
            GreyLevels::from_le_bytes(info(100_000, 100_000, true), &[]).is_none(),
            "past the limit"
        );
    }

    #[test]
    fn preview_averages_each_footprint() {
        // 4x2 to 2x1: each preview pixel is the mean of a 2x2 block.
        let levels = GreyLevels::new(info(4, 2, false), [0, 2, 10, 10, 4, 6, 20, 40].into_iter());
        let preview = levels.preview(2, 1);
        assert_eq!(preview.values, vec![3.0, 20.0]);
        assert_eq!((preview.low, preview.high), (0.0, 40.0));
        let full = &preview.presets[0];
        assert_eq!(full.name, "Full range");
        assert_eq!(levels.render(&full.window), vec![0, 13, 64, 64, 26, 38, 128, 255]);
    }

    #[test]
    fn linear_window_clamps_and_inverts() {
        let window = Window::linear(100.5, 101.0);
        assert_eq!(window.grey(0.0, false), 0);
        assert_eq!(window.grey(200.0, false), 255);
        assert_eq!(window.grey(200.0, true), 0);
        assert_eq!(window.grey(100.0, false), 128);
    }

    #[test]
    fn hounsfield_values_get_ct_presets() {
        let mut ct = info(2, 1, true);
        ct.unit = Some("HU".into());
        let names: Vec<String> = GreyLevels::new(ct, [-1000, 1000].into_iter())
            .preview(2, 1)
            .presets
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert!(names.iter().any(|n| n.starts_with("Lung")), "{names:?}");
    }
}
