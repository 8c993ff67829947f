//! The JPEG decoder against Pillow (libjpeg-turbo) on real photographs and
//! radiographs: every sample equal. Fixtures and their decoded pixels come
//! from tools/reference/jpeg_reference.py.

use chexlens_jpeg::dct::{self as jpeg, JpegError};
use serde_json::Value;
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jpeg")
}

fn index() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("index.json")).unwrap()).unwrap()
}

/// Pillow's decoding, as planes.
fn expected_planes(name: &str) -> Vec<Vec<u8>> {
    let image = image::open(fixtures().join(name)).unwrap();
    match image {
        image::DynamicImage::ImageLuma8(p) => vec![p.as_raw().clone()],
        image::DynamicImage::ImageRgb8(p) => (0..3)
            .map(|c| p.as_raw().chunks_exact(3).map(|px| px[c]).collect())
            .collect(),
        other => panic!("{name}: unexpected {:?}", other.color()),
    }
}

#[test]
fn every_sample_equals_pillow() {
    let cases = index()["cases"].as_array().unwrap().clone();
    assert!(cases.len() >= 20);
    for case in cases {
        let file = case["file"].as_str().unwrap();
        let bytes = std::fs::read(fixtures().join(file)).unwrap();
        let decoded = jpeg::decode(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(decoded.width as u64, case["width"].as_u64().unwrap(), "{file}");
        assert_eq!(decoded.height as u64, case["height"].as_u64().unwrap(), "{file}");
        let jpeg::Planes::Eight(planes) = &decoded.planes else {
            panic!("{file}: not decoded as 8-bit");
        };
        let expected = expected_planes(case["expected"].as_str().unwrap());
        assert_eq!(planes.len(), expected.len(), "{file}: plane count");
        for (c, (ours, theirs)) in planes.iter().zip(&expected).enumerate() {
            let differing = ours.iter().zip(theirs).filter(|(a, b)| a != b).count();
            let worst = ours
                .iter()
                .zip(theirs)
                .map(|(&a, &b)| (a as i32 - b as i32).abs())
                .max()
                .unwrap_or(0);
            assert_eq!(
                differing, 0,
                "{file} ({}): plane {c} differs from Pillow in {differing} samples, by up to {worst}",
                case["what"]
            );
        }
        let info = jpeg::frame_info(&bytes).unwrap();
        assert_eq!(
            (info.width as usize, info.height as usize),
            (decoded.width, decoded.height)
        );
    }
}

#[test]
fn what_is_not_decoded_is_named() {
    // A real file whose frame marker says another process.
    let bytes = std::fs::read(fixtures().join("camera_grey_q90.jpg")).unwrap();
    let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    for (marker, why) in [
        (0xC3, "lossless"),
        (0xCB, "lossless"),
        (0xC5, "hierarchical"),
        (0xCE, "hierarchical"),
    ] {
        let mut other = bytes.clone();
        other[sof + 1] = marker;
        assert_eq!(jpeg::decode(&other).unwrap_err(), JpegError::Unsupported(why.into()));
    }
    // Reserved markers are refused, as libjpeg refuses them.
    let mut reserved = bytes.clone();
    reserved[sof + 1] = 0xC8;
    assert_eq!(
        jpeg::decode(&reserved).unwrap_err(),
        JpegError::Corrupt("an unknown marker 0xC8".into())
    );
}

#[test]
fn every_cut_is_refused_and_nothing_panics() {
    // Files cut anywhere (without their end marker, as Pillow refuses
    // them): an error, never a panic or a grey tail.
    for name in [
        "coffee_420_progressive_restart.jpg",
        "chest_rg1_grey_q90.jpg",
        "camera_arithmetic.jpg",
    ] {
        let bytes = std::fs::read(fixtures().join(name)).unwrap();
        for cut in (0..bytes.len() - 2).step_by(7) {
            assert!(jpeg::decode(&bytes[..cut]).is_err(), "{name} cut at {cut} decoded");
        }
    }
}

/// A file with its scans (from the first SOS to EOI) written `n` times.
fn with_scans(bytes: &[u8], n: usize) -> Vec<u8> {
    let sos = bytes.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    let eoi = bytes.len() - 2;
    let mut out = bytes[..sos].to_vec();
    for _ in 0..n {
        out.extend_from_slice(&bytes[sos..eoi]);
    }
    out.extend_from_slice(&bytes[eoi..]);
    out
}

#[test]
fn repeated_scans_are_bounded() {
    // A progressive file's scans repeated: up to 16 visits per coefficient
    // decode, more are refused before any decoding. Its six scans visit
    // each coefficient 3 times (191 of 192 per block), so five copies (15)
    // decode and six (18) are refused.
    let bytes = std::fs::read(fixtures().join("camera_grey_progressive_q50.jpg")).unwrap();
    assert_eq!(jpeg::decode(&with_scans(&bytes, 5)).unwrap().planes.count(), 1);
    let err = jpeg::decode(&with_scans(&bytes, 6)).unwrap_err();
    assert!(err.to_string().contains("repeat"), "{err}");
    // A sequential file whose one scan holds every component has no room
    // for a second (Pillow: "broken data stream"; libjpeg: "Didn't expect
    // more than one scan").
    let bytes = std::fs::read(fixtures().join("camera_grey_q90.jpg")).unwrap();
    let err = jpeg::decode(&with_scans(&bytes, 2)).unwrap_err();
    assert!(err.to_string().contains("a second scan"), "{err}");
}

#[test]
fn a_frame_claiming_too_many_pixels_is_refused_before_decoding() {
    // camera_grey_q90 with its SOF0 saying 20000 x 20000 (400 MP).
    let mut bytes = std::fs::read(fixtures().join("camera_grey_q90.jpg")).unwrap();
    let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    bytes[sof + 5..sof + 9].copy_from_slice(&[0x4E, 0x20, 0x4E, 0x20]);
    let err = jpeg::decode(&bytes).unwrap_err();
    assert_eq!(
        err,
        JpegError::TooLarge {
            width: 20_000,
            height: 20_000,
            max_mp: 80
        }
    );
}
