//! DCT JPEG (baseline and extended, 8 or 12 bits: transfer syntaxes
//! 1.2.840.10008.1.2.4.50 and .51) and JPEG-LS (.80 lossless, .81
//! near-lossless) frames, through chexlens's own decoders, as the
//! native-endian interleaved samples `StoredFrame` reads.

use super::DicomError;
use chexlens_jpeg::{dct as jpeg, ls as jpeg_ls};

pub const BASELINE: &str = "1.2.840.10008.1.2.4.50";
pub const EXTENDED: &str = "1.2.840.10008.1.2.4.51";
pub const LS_LOSSLESS: &str = "1.2.840.10008.1.2.4.80";
pub const LS_NEAR_LOSSLESS: &str = "1.2.840.10008.1.2.4.81";

pub fn is_dct(uid: &str) -> bool {
    uid == BASELINE || uid == EXTENDED
}

pub fn is_jpeg_ls(uid: &str) -> bool {
    uid == LS_LOSSLESS || uid == LS_NEAR_LOSSLESS
}

fn to_bytes(samples: impl Iterator<Item = u16>, precision: u8, bits_allocated: u16) -> Result<Vec<u8>, DicomError> {
    if precision as u16 > bits_allocated {
        return Err(DicomError::Corrupt(format!(
            "its frame has {precision}-bit samples but the file allocates {bits_allocated} bits"
        )));
    }
    Ok(match bits_allocated {
        8 => samples.map(|v| v as u8).collect(),
        _ => samples.flat_map(u16::to_ne_bytes).collect(),
    })
}

/// A DCT JPEG frame: grey, or colour as RGB (converted from YCbCr when the
/// Photometric Interpretation says YBR, `photometric_ybr`), and what was
/// damaged in its data, if anything.
pub fn decode_dct(
    stream: &[u8],
    bits_allocated: u16,
    photometric_ybr: bool,
) -> Result<(Vec<u8>, Option<String>), DicomError> {
    let rule = jpeg::ColourRule::Dicom { ybr: photometric_ybr };
    let image = jpeg::decode_with(stream, rule).map_err(|e| DicomError::Decode(e.to_string()))?;
    let pixels = image.width * image.height;
    let bytes = match &image.planes {
        jpeg::Planes::Eight(planes) => to_bytes(interleave(planes, pixels), image.precision, bits_allocated)?,
        jpeg::Planes::Twelve(planes) => to_bytes(interleave(planes, pixels), image.precision, bits_allocated)?,
    };
    let damage = (!image.damage.is_empty()).then(|| image.damage.to_string());
    Ok((bytes, damage))
}

/// The planes' samples pixel by pixel, as 16-bit values.
fn interleave<T: Copy + Into<u16>>(planes: &[Vec<T>], pixels: usize) -> impl Iterator<Item = u16> + '_ {
    (0..pixels).flat_map(move |i| planes.iter().map(move |plane| plane[i].into()))
}

/// A JPEG-LS frame, samples as coded (a signed image's bit patterns).
pub fn decode_ls(stream: &[u8], bits_allocated: u16) -> Result<Vec<u8>, DicomError> {
    let image = jpeg_ls::decode(stream).map_err(|e| DicomError::Decode(e.to_string()))?;
    to_bytes(image.samples.into_iter(), image.bits, bits_allocated)
}
