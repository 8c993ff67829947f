//! From stored pixel values to the 8-bit image a radiologist would see
//! (PS3.3 C.11): modality rescale, then the VOI window (or VOI LUT, or the
//! full range), then MONOCHROME1 inverted so that bone is bright, then
//! rounded to 0..=255.

use super::DicomError;
use crate::window::{WindowFunction, window_unit};

/// One frame's stored values, as the file holds them: masked to Bits Stored
/// and sign-extended where Pixel Representation is signed. Samples are
/// interleaved per pixel (R, G, B for colour).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFrame {
    pub width: usize,
    pub height: usize,
    pub samples_per_pixel: usize,
    pub bits_stored: u16,
    pub signed: bool,
    pub values: Vec<i32>,
}

/// How decoded samples are laid out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleFormat {
    pub samples_per_pixel: usize,
    pub bits_allocated: u16,
    pub bits_stored: u16,
    pub signed: bool,
    /// Colour samples come plane by plane (Planar Configuration 1).
    pub planar: bool,
}

impl StoredFrame {
    /// Reads native-endian decoded samples; planar colour is interleaved here.
    pub(crate) fn from_decoded(
        data: &[u8],
        width: usize,
        height: usize,
        format: SampleFormat,
    ) -> Result<Self, DicomError> {
        let SampleFormat {
            samples_per_pixel,
            bits_allocated,
            bits_stored,
            signed,
            planar,
        } = format;
        let unsupported = DicomError::UnsupportedBits {
            allocated: bits_allocated,
            stored: bits_stored,
        };
        if bits_stored == 0 || bits_stored > bits_allocated || bits_stored > 16 {
            return Err(unsupported);
        }
        let count = width * height * samples_per_pixel;
        let raw: Vec<u32> = match bits_allocated {
            8 => data.iter().take(count).map(|&b| b as u32).collect(),
            16 => data
                .chunks_exact(2)
                .take(count)
                .map(|c| u16::from_ne_bytes([c[0], c[1]]) as u32)
                .collect(),
            _ => return Err(unsupported),
        };
        if raw.len() < count {
            return Err(DicomError::Corrupt(format!(
                "the pixel data holds {} of the {count} samples that Rows x Columns x Samples per Pixel require",
                raw.len()
            )));
        }
        let mask = (1u32 << bits_stored) - 1;
        let sign_bit = 1u32 << (bits_stored - 1);
        let value = |r: u32| {
            let v = r & mask;
            if signed && v & sign_bit != 0 {
                v as i32 - (1i32 << bits_stored)
            } else {
                v as i32
            }
        };
        let values = if planar && samples_per_pixel > 1 {
            let plane = width * height;
            (0..plane)
                .flat_map(|i| (0..samples_per_pixel).map(move |s| s * plane + i))
                .map(|i| value(raw[i]))
                .collect()
        } else {
            raw.into_iter().map(value).collect()
        };
        Ok(Self {
            width,
            height,
            samples_per_pixel,
            bits_stored,
            signed,
            values,
        })
    }
}

/// How modality values become display values in [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub enum Voi {
    Window {
        center: f64,
        width: f64,
        function: WindowFunction,
    },
    /// A VOI LUT Sequence item: `data[x - first]`, clamped at both ends.
    Lut { first: i32, bits: u8, data: Vec<u16> },
    /// No window in the file: the image's own minimum to maximum.
    FullRange,
}

impl Voi {
    /// A short description for the UI and CLI.
    pub fn describe(&self) -> String {
        match self {
            Voi::Window {
                center,
                width,
                function,
            } => {
                let function = match function {
                    WindowFunction::Linear => "",
                    WindowFunction::LinearExact => ", LINEAR_EXACT",
                    WindowFunction::Sigmoid => ", SIGMOID",
                };
                format!("window center {center}, width {width}{function}")
            }
            Voi::Lut { data, .. } => format!("VOI LUT of {} entries", data.len()),
            Voi::FullRange => "full pixel range (no window in the file)".to_owned(),
        }
    }
}

/// Everything that turns a grey frame's stored values into display values.
#[derive(Debug, Clone, PartialEq)]
pub struct GreyDisplay {
    pub slope: f64,
    pub intercept: f64,
    pub voi: Voi,
    /// MONOCHROME1: the lowest value is white.
    pub invert: bool,
}

impl GreyDisplay {
    /// The 8-bit grey image: round(255 * display value), half up.
    pub fn to_8bit(&self, values: &[i32]) -> Vec<u8> {
        let modality: Vec<f64> = values.iter().map(|&v| v as f64 * self.slope + self.intercept).collect();
        let unit: Box<dyn Fn(f64) -> f64> = match &self.voi {
            Voi::Window {
                center,
                width,
                function,
            } => window_fn(*center, *width, *function),
            Voi::Lut { first, bits, data } => {
                let (first, top, data) = (*first as f64, ((1u32 << bits) - 1).max(1) as f64, data.clone());
                Box::new(move |x| {
                    let index = (x.round() - first).clamp(0.0, (data.len() - 1) as f64) as usize;
                    data[index] as f64 / top
                })
            }
            Voi::FullRange => {
                let (lo, hi) = modality
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                        (lo.min(v), hi.max(v))
                    });
                let span = hi - lo;
                Box::new(move |x| if span > 0.0 { (x - lo) / span } else { 0.0 })
            }
        };
        modality
            .into_iter()
            .map(|x| {
                let v = unit(x).clamp(0.0, 1.0);
                let v = if self.invert { 1.0 - v } else { v };
                (v * 255.0 + 0.5).floor() as u8
            })
            .collect()
    }
}

/// PS3.3 C.11.2.1.2.1 (LINEAR), C.11.2.1.3.2 (LINEAR_EXACT) and
/// C.11.2.1.3.1 (SIGMOID), with the output range 0..1.
fn window_fn(center: f64, width: f64, function: WindowFunction) -> Box<dyn Fn(f64) -> f64> {
    Box::new(move |x| window_unit(center, width, function, x))
}

/// YBR_FULL to RGB (PS3.3 C.7.6.3.1.2), for 8-bit samples.
pub(crate) fn ybr_full_to_rgb(y: i32, cb: i32, cr: i32) -> [u8; 3] {
    let (y, cb, cr) = (y as f64, cb as f64 - 128.0, cr as f64 - 128.0);
    let clamp = |v: f64| v.round().clamp(0.0, 255.0) as u8;
    [
        clamp(y + 1.402 * cr),
        clamp(y - 0.344136 * cb - 0.714136 * cr),
        clamp(y + 1.772 * cb),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn display(voi: Voi, invert: bool) -> GreyDisplay {
        GreyDisplay {
            slope: 1.0,
            intercept: 0.0,
            voi,
            invert,
        }
    }

    #[test]
    fn linear_window_follows_the_standard() {
        // Center 2048, width 4096: the standard maps x <= 0 to 0 and x > 4095 to 1,
        // and 2047.5 to the middle.
        let voi = Voi::Window {
            center: 2048.0,
            width: 4096.0,
            function: WindowFunction::Linear,
        };
        let out = display(voi, false).to_8bit(&[-10, 0, 2047, 2048, 4095, 5000]);
        assert_eq!(out[0], 0);
        assert_eq!(out[1], 0);
        assert_eq!(out[2], 127); // (2047 - 2047.5) / 4095 + 0.5 = 0.49988 -> 127.47 -> 127
        assert_eq!(out[3], 128);
        assert_eq!(out[4], 255);
        assert_eq!(out[5], 255);
    }

    #[test]
    fn monochrome1_inverts_after_the_window() {
        let voi = Voi::FullRange;
        assert_eq!(display(voi.clone(), false).to_8bit(&[0, 10, 20]), vec![0, 128, 255]);
        assert_eq!(display(voi, true).to_8bit(&[0, 10, 20]), vec![255, 128, 0]);
    }

    #[test]
    fn rescale_applies_before_the_window() {
        // CT-like: stored 0..=2000, slope 1, intercept -1024, window of lungs.
        let d = GreyDisplay {
            slope: 1.0,
            intercept: -1024.0,
            voi: Voi::Window {
                center: -600.0,
                width: 1500.0,
                function: WindowFunction::LinearExact,
            },
            invert: false,
        };
        // -1024 + 424 = -600: the center maps to 0.5; the window spans -1350..150.
        assert_eq!(d.to_8bit(&[424]), vec![128]);
        assert_eq!(d.to_8bit(&[-400, 2000]), vec![0, 255]);
    }

    #[test]
    fn voi_lut_clamps_at_both_ends() {
        let voi = Voi::Lut {
            first: 10,
            bits: 8,
            data: vec![0, 100, 255],
        };
        assert_eq!(
            display(voi, false).to_8bit(&[0, 10, 11, 12, 99]),
            vec![0, 0, 100, 255, 255]
        );
    }

    #[test]
    fn signed_samples_are_sign_extended_from_bits_stored() {
        // 12 bits stored in 16: 0x0FFF is -1, 0x0800 is -2048, high bits ignored.
        let data: Vec<u8> = [0x0FFFu16, 0x0800, 0xF001]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        let format = |signed| SampleFormat {
            samples_per_pixel: 1,
            bits_allocated: 16,
            bits_stored: 12,
            signed,
            planar: false,
        };
        let frame = StoredFrame::from_decoded(&data, 3, 1, format(true)).unwrap();
        assert_eq!(frame.values, vec![-1, -2048, 1]);
        let frame = StoredFrame::from_decoded(&data, 3, 1, format(false)).unwrap();
        assert_eq!(frame.values, vec![4095, 2048, 1]);
    }

    #[test]
    fn planar_colour_is_interleaved_and_short_data_is_refused() {
        let format = |samples_per_pixel, planar| SampleFormat {
            samples_per_pixel,
            bits_allocated: 8,
            bits_stored: 8,
            signed: false,
            planar,
        };
        let frame = StoredFrame::from_decoded(&[1, 2, 10, 20, 100, 200], 2, 1, format(3, true)).unwrap();
        assert_eq!(frame.values, vec![1, 10, 100, 2, 20, 200]);
        let err = StoredFrame::from_decoded(&[1, 2, 3], 2, 2, format(1, false)).unwrap_err();
        assert!(matches!(err, DicomError::Corrupt(_)), "{err}");
    }
}
