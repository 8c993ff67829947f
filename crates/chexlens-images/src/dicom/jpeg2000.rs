//! JPEG 2000 frames (transfer syntaxes 1.2.840.10008.1.2.4.90 and .91),
//! decoded with hayro-jpeg2000: memory-safe pure Rust. (dicom-rs's own
//! JPEG 2000 path, openjp2, is OpenJPEG translated from C and traps with
//! "memory access out of bounds" in wasm32, so the browser could not use it.)

use super::DicomError;
use hayro_jpeg2000::{DecodeSettings, DecoderContext, Image};

pub const LOSSLESS: &str = "1.2.840.10008.1.2.4.90";
pub const LOSSY: &str = "1.2.840.10008.1.2.4.91";

pub fn is_jpeg2000(uid: &str) -> bool {
    uid == LOSSLESS || uid == LOSSY
}

/// A frame's codestream as native-endian samples of `bits_allocated` bits,
/// interleaved per pixel, as dicom-pixeldata's decoders give them.
pub fn decode_frame(
    codestream: &[u8],
    bits_allocated: u16,
    bits_stored: u16,
    signed: bool,
) -> Result<Vec<u8>, DicomError> {
    // A complete codestream ends with EOC (FF D9), before the even-length
    // padding; the decoder would fill a cut-off one with grey, and a
    // cut-off radiograph must not be analysed as if it were whole.
    let end = codestream.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    if end < 2 || codestream[end - 2..end] != [0xFF, 0xD9] {
        return Err(DicomError::Corrupt(
            "its JPEG 2000 codestream stops before the end marker".into(),
        ));
    }
    let settings = DecodeSettings {
        resolve_palette_indices: false,
        strict: false,
        target_resolution: None,
    };
    let image = Image::new(codestream, &settings).map_err(|e| DicomError::Decode(format!("JPEG 2000: {e}")))?;
    let mut context = DecoderContext::default();
    let decoded = image
        .decode(&mut context)
        .map_err(|e| DicomError::Decode(format!("JPEG 2000: {e}")))?;
    let components = decoded.components();
    let count = components[0].samples().len();
    // Samples come back unsigned (DC level shift applied); a signed image's
    // values are that minus half the range.
    let offset = if signed { 1i64 << (bits_stored.max(1) - 1) } else { 0 };
    let top = (1i64 << bits_stored) - 1;
    let bytes_per_sample = bits_allocated.div_ceil(8) as usize;
    let mut out = Vec::with_capacity(count * components.len() * bytes_per_sample);
    for i in 0..count {
        for component in components {
            let value = (component.samples()[i].round() as i64).clamp(0, top) - offset;
            match bytes_per_sample {
                1 => out.push(value as u8),
                _ => out.extend_from_slice(&(value as u16).to_ne_bytes()),
            }
        }
    }
    Ok(out)
}
