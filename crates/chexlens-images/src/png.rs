//! PNG encoding of interleaved 8-bit RGB, as overlays are written.

/// `rgb` (`width * height * 3` bytes) as a PNG file.
pub fn encode_rgb_png(rgb: &[u8], width: usize, height: usize) -> Result<Vec<u8>, String> {
    use image::ImageEncoder;
    let mut out = Vec::new();
    let (w, h) = (
        u32::try_from(width).map_err(|_| "the image is too wide to write".to_string())?,
        u32::try_from(height).map_err(|_| "the image is too tall to write".to_string())?,
    );
    // The encoder panics on a buffer of the wrong size: refuse it first.
    if Some(rgb.len()) != width.checked_mul(height).and_then(|n| n.checked_mul(3)) {
        return Err(format!("{} bytes are not {width}x{height} RGB pixels", rgb.len()));
    }
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(rgb, w, h, image::ExtendedColorType::Rgb8)
        .map_err(|e| format!("the PNG could not be written ({e})"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_back_to_the_same_pixels() {
        let rgb: Vec<u8> = (0..5 * 3 * 3).map(|i| (i * 17 % 256) as u8).collect();
        let png = encode_rgb_png(&rgb, 5, 3).unwrap();
        let decoded = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(decoded.dimensions(), (5, 3));
        assert_eq!(decoded.into_raw(), rgb);
        assert!(
            encode_rgb_png(&rgb, 4, 3).is_err(),
            "a buffer of the wrong size is refused"
        );
    }
}
