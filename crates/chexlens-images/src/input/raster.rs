//! Decoding PNG and JPEG into 8-bit planes, as the reference's
//! `Image.open(..).convert("RGB")` sees them: PNG through the `image`
//! crate, JPEG through chexlens's own decoder, which gives libjpeg-turbo's
//! (Pillow's) samples exactly.

use super::ImageError;
use crate::image::{MAX_PIXELS, MAX_SIDE, XrayImage};
use crate::levels::{DecodedWith, GreyLevels, LevelsInfo, LevelsSource, full_range};
use chexlens_jpeg::dct::{self as jpeg, JpegError};
use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use std::io::Cursor;

/// 16-bit samples map their full range onto 0..=255. (Pillow's own
/// `convert("RGB")` clips everything above 255, which whitens real 16-bit
/// radiographs; chexlens deliberately does not copy that.)
fn to_8bit(v: u16) -> u8 {
    ((v as u32 * 255 + 32_767) / 65_535) as u8
}

fn split_planes<const C: usize, T: Copy>(pixels: &[T], keep: usize, map: impl Fn(T) -> u8) -> Vec<Vec<u8>> {
    (0..keep)
        .map(|c| pixels.chunks_exact(C).map(|p| map(p[c])).collect())
        .collect()
}

fn jpeg_error(error: JpegError) -> ImageError {
    match error {
        JpegError::TooLarge { width, height, max_mp } => ImageError::TooLarge { width, height, max_mp },
        other => ImageError::Jpeg(other),
    }
}

/// A grey raster's samples as levels: no rescale, no window of its own.
fn raster_levels(width: usize, height: usize, bits: u8, samples: impl Iterator<Item = i32>) -> GreyLevels {
    let info = LevelsInfo {
        source: LevelsSource::Raster,
        width,
        height,
        bits_stored: bits.into(),
        signed: false,
        slope: 1.0,
        intercept: 0.0,
        unit: None,
        file_windows: Vec::new(),
        invert: false,
        // Samples map their whole scale onto 0..=255.
        decoded_with: DecodedWith::Window(full_range(0.0, ((1u32 << bits) - 1) as f64)),
    };
    GreyLevels::new(info, samples)
}

/// A decoded PNG or JPEG: its 8-bit planes, a grey image's levels where
/// asked for, and what was damaged in a JPEG's data.
pub(crate) struct Raster {
    pub image: XrayImage,
    pub levels: Option<GreyLevels>,
    pub damage: Option<String>,
}

/// A JPEG's planes: 8-bit as they are, 12-bit mapped onto 0..=255 as
/// 16-bit PNGs are (Pillow cannot read 12-bit JPEGs at all).
fn decode_jpeg(bytes: &[u8], with_levels: bool) -> Result<Raster, ImageError> {
    // The decoder checks the frame's size before it allocates anything.
    let decoded = jpeg::decode(bytes).map_err(jpeg_error)?;
    let damage = (!decoded.damage.is_empty()).then(|| decoded.damage.to_string());
    let (width, height, precision) = (decoded.width, decoded.height, decoded.precision);
    let levels = match &decoded.planes {
        _ if !with_levels || decoded.planes.count() != 1 => None,
        jpeg::Planes::Eight(planes) => Some(raster_levels(
            width,
            height,
            precision,
            planes[0].iter().map(|&v| v as i32),
        )),
        jpeg::Planes::Twelve(planes) => Some(raster_levels(
            width,
            height,
            precision,
            planes[0].iter().map(|&v| v as i32),
        )),
    };
    let planes = match decoded.planes {
        // 8-bit planes are the image as they are, without a copy.
        jpeg::Planes::Eight(planes) => planes,
        jpeg::Planes::Twelve(planes) => {
            let top = (1u32 << precision) - 1;
            planes
                .into_iter()
                .map(|plane| {
                    plane
                        .into_iter()
                        .map(|v| ((v as u32 * 255 + top / 2) / top) as u8)
                        .collect()
                })
                .collect()
        }
    };
    let image = XrayImage { width, height, planes };
    Ok(Raster { image, levels, damage })
}

/// Decodes a PNG or JPEG held in memory.
pub fn decode_image(bytes: &[u8]) -> Result<XrayImage, ImageError> {
    decode_raster(bytes, false).map(|raster| raster.image)
}

/// Whether a PNG or JPEG is grey by its header alone (a PNG's colour type,
/// a JPEG's component count): such images get window/level in the viewer.
pub fn is_grey_raster(bytes: &[u8]) -> bool {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.starts_with(PNG) && bytes.len() > 25 && &bytes[12..16] == b"IHDR" {
        // Colour type 0 (grey) or 4 (grey and alpha).
        return matches!(bytes[25], 0 | 4);
    }
    jpeg::frame_info(bytes).is_ok_and(|info| info.components == 1)
}

/// As [`decode_image`], with a grey image's samples at their own depth
/// where `with_levels` asks for them.
pub(crate) fn decode_raster(bytes: &[u8], with_levels: bool) -> Result<Raster, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return decode_jpeg(bytes, with_levels);
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ImageError::Corrupt(e.to_string()))?;
    match reader.format() {
        Some(ImageFormat::Png) => {}
        Some(other) => {
            return Err(ImageError::UnsupportedFormat(format!("{other:?}").to_uppercase()));
        }
        None => return Err(ImageError::UnknownFormat),
    }
    // Read the header alone first, so that no pixels are allocated for a bomb.
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), ImageFormat::Png)
        .into_dimensions()
        .map_err(|e| ImageError::Corrupt(e.to_string()))?;
    if width == 0 || height == 0 {
        return Err(ImageError::ZeroSize);
    }
    if width > MAX_SIDE || height > MAX_SIDE || width as u64 * height as u64 > MAX_PIXELS {
        return Err(ImageError::TooLarge {
            width,
            height,
            max_mp: MAX_PIXELS / 1_000_000,
        });
    }
    let mut reader = reader;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_PIXELS * 8 + (64 << 20));
    reader.limits(limits);
    let decoded = reader.decode().map_err(|e| ImageError::Corrupt(e.to_string()))?;
    let (w, h) = (width as usize, height as usize);
    let levels = match &decoded {
        _ if !with_levels => None,
        DynamicImage::ImageLuma8(p) => Some(raster_levels(w, h, 8, p.as_raw().iter().map(|&v| v as i32))),
        DynamicImage::ImageLumaA8(p) => Some(raster_levels(w, h, 8, p.as_raw().iter().step_by(2).map(|&v| v as i32))),
        DynamicImage::ImageLuma16(p) => Some(raster_levels(w, h, 16, p.as_raw().iter().map(|&v| v as i32))),
        DynamicImage::ImageLumaA16(p) => Some(raster_levels(w, h, 16, p.as_raw().iter().step_by(2).map(|&v| v as i32))),
        _ => None,
    };

    let planes = match &decoded {
        DynamicImage::ImageLuma8(p) => vec![p.as_raw().clone()],
        DynamicImage::ImageLumaA8(p) => split_planes::<2, u8>(p.as_raw(), 1, |v| v),
        DynamicImage::ImageLuma16(p) => vec![p.as_raw().iter().map(|&v| to_8bit(v)).collect()],
        DynamicImage::ImageLumaA16(p) => split_planes::<2, u16>(p.as_raw(), 1, to_8bit),
        DynamicImage::ImageRgb8(p) => split_planes::<3, u8>(p.as_raw(), 3, |v| v),
        // Alpha is dropped, not composited, as Pillow's convert("RGB") does.
        DynamicImage::ImageRgba8(p) => split_planes::<4, u8>(p.as_raw(), 3, |v| v),
        DynamicImage::ImageRgb16(p) => split_planes::<3, u16>(p.as_raw(), 3, to_8bit),
        DynamicImage::ImageRgba16(p) => split_planes::<4, u16>(p.as_raw(), 3, to_8bit),
        other => split_planes::<3, u8>(other.to_rgb8().as_raw(), 3, |v| v),
    };
    let image = XrayImage {
        width: w,
        height: h,
        planes,
    };
    Ok(Raster {
        image,
        levels,
        damage: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_bit_maps_full_range() {
        assert_eq!(to_8bit(0), 0);
        assert_eq!(to_8bit(65_535), 255);
        assert_eq!(to_8bit(257 * 100), 100);
    }

    #[test]
    fn rejects_garbage_and_empty() {
        assert_eq!(decode_image(b"").unwrap_err(), ImageError::Empty);
        assert_eq!(
            decode_image(b"hello, not an image").unwrap_err(),
            ImageError::UnknownFormat
        );
    }
}
