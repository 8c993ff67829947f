//! Preprocessing against Pillow (the reference's torchvision Resize on PIL images).

mod common;

use chexlens_images::input::decode_image;
use chexlens_images::preprocess::{InputConfig, ResizeFilter};
use common::*;

fn decode(name: &str) -> chexlens_images::image::XrayImage {
    decode_image(&std::fs::read(fixture(name)).expect("fixture")).expect("decodes")
}

fn check_resize(filter: ResizeFilter) {
    let reference = reference();
    for (file, resized, resized_bicubic) in image_files(&reference) {
        let expected = decode(if filter == ResizeFilter::Bilinear {
            &resized
        } else {
            &resized_bicubic
        });
        assert_eq!((expected.width, expected.height), (384, 384));
        let config = InputConfig {
            resize_filter: filter,
            ..InputConfig::default()
        };
        let ours = config.resize(&decode(&file));
        let planes: Vec<&Vec<u8>> = match expected.planes.as_slice() {
            [g] => vec![g, g, g],
            p => p.iter().collect(),
        };
        let mut worst = 0i32;
        let mut differing = 0usize;
        for (a, b) in ours.iter().zip(planes) {
            for (x, y) in a.iter().zip(b) {
                let d = (*x as i32 - *y as i32).abs();
                worst = worst.max(d);
                differing += (d > 0) as usize;
            }
        }
        // PNG and JPEG inputs decode exactly as Pillow decodes them (JPEG as
        // libjpeg-turbo does), so Pillow's fixed-point resample is reproduced exactly.
        assert_eq!(
            differing, 0,
            "{file} ({filter:?}): {differing} values differ from Pillow, by up to {worst}/255"
        );
    }
}

#[test]
fn bilinear_resize_matches_pillow() {
    check_resize(ResizeFilter::Bilinear);
}

#[test]
fn bicubic_resize_matches_pillow() {
    check_resize(ResizeFilter::Bicubic);
}

#[test]
fn grey_and_colour_inputs_decode_to_the_expected_planes() {
    assert!(decode("xray_grey8.png").is_grey());
    assert!(decode("xray_grey16.png").is_grey());
    assert!(decode("xray_grey.jpg").is_grey());
    assert_eq!(decode("xray_rgb.png").planes.len(), 3);
    assert_eq!(decode("xray_rgba.png").planes.len(), 3);
}

#[test]
fn normalisation_uses_the_reference_mean_and_std() {
    let reference = reference();
    let config = InputConfig::default();
    let mean = reference["mean"].as_f64().unwrap() as f32;
    let std = reference["std"].as_f64().unwrap() as f32;
    assert_eq!(config.mean, [mean; 3]);
    assert_eq!(config.std, [std; 3]);
    let planes = [vec![0u8, 255], vec![128, 1], vec![64, 200]];
    let n = config.normalise(&planes);
    assert!((n[0] - (0.0 - mean) / std).abs() < 1e-6);
    assert!((n[1] - (1.0 - mean) / std).abs() < 1e-6);
}

/// A PNG whose header claims `width x height` (the pixels are never read).
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = std::fs::read(fixture("resized_xray_grey8.png")).unwrap();
    // IHDR data starts at byte 16: width, height (big-endian), then 5 bytes of
    // flags; its CRC (over type and data) follows at byte 29.
    bytes[16..20].copy_from_slice(&width.to_be_bytes());
    bytes[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn decompression_bomb_is_refused_before_decoding() {
    let err = decode_image(&png_claiming(60_000, 60_000)).unwrap_err();
    assert_eq!(
        err,
        chexlens_images::input::ImageError::TooLarge {
            width: 60_000,
            height: 60_000,
            max_mp: 80
        }
    );
    let err = decode_image(&png_claiming(20_000, 20_000)).unwrap_err();
    assert!(
        matches!(err, chexlens_images::input::ImageError::TooLarge { .. }),
        "{err}"
    );
    // The patch itself is sound: the real size still decodes.
    assert!(decode_image(&png_claiming(384, 384)).is_ok());
}

#[test]
fn truncated_and_corrupt_images_give_errors() {
    let bytes = std::fs::read(fixture("xray_grey8.png")).unwrap();
    for cut in [8, 40, 1000, bytes.len() / 2] {
        let err = decode_image(&bytes[..cut]).unwrap_err();
        assert!(
            matches!(err, chexlens_images::input::ImageError::Corrupt(_)),
            "cut at {cut}: {err}"
        );
    }
    let jpeg = std::fs::read(fixture("xray_grey.jpg")).unwrap();
    for cut in [3, 100, jpeg.len() / 3, jpeg.len() - 2] {
        let err = decode_image(&jpeg[..cut]).unwrap_err();
        assert!(err.to_string().contains("truncated"), "cut at {cut}: {err}");
    }
}

#[test]
fn grey_files_keep_their_full_depth_for_the_viewer() {
    use chexlens_images::input::decode_xray_frame_with_levels;
    use chexlens_images::input::is_grey_raster;
    let read = |name: &str| std::fs::read(fixture(name)).expect("fixture");
    for (name, grey) in [
        ("xray_grey16.png", true),
        ("xray_grey8.png", true),
        ("xray_grey.jpg", true),
        ("xray_rgb.png", false),
        ("xray_rgba.png", false),
    ] {
        assert_eq!(is_grey_raster(&read(name)), grey, "{name}");
        let loaded = decode_xray_frame_with_levels(&read(name), 0).unwrap();
        assert_eq!(loaded.levels.is_some(), grey, "{name}");
    }
    // The 16-bit PNG: the model's 8-bit plane is its 16-bit samples mapped
    // onto 0..=255, and the viewer has all of their levels.
    let loaded = decode_xray_frame_with_levels(&read("xray_grey16.png"), 0).unwrap();
    let levels = loaded.levels.unwrap();
    assert_eq!(levels.info.bits_stored, 16);
    let mapped: Vec<u8> = levels
        .words
        .iter()
        .map(|&v| ((v as u32 * 255 + 32_767) / 65_535) as u8)
        .collect();
    assert_eq!(mapped, loaded.image.planes[0]);
    // The window the viewer starts from redraws that plane.
    let preview = levels.preview(64, 64);
    let window = preview.decoded_window().unwrap();
    let drawn = levels.render(&window);
    let worst = drawn
        .iter()
        .zip(&mapped)
        .map(|(&a, &b)| (a as i32 - b as i32).abs())
        .max();
    assert!(worst <= Some(1), "redrawn within one level of rounding: {worst:?}");
    let distinct: std::collections::BTreeSet<u16> = levels.words.iter().copied().collect();
    assert!(distinct.len() > 256, "only {} levels", distinct.len());
}
