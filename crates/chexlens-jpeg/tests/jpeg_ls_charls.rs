//! The JPEG-LS decoder against CharLS (and pylibjpeg-libjpeg, which the
//! generator checks agree) on streams CharLS wrote: 2 to 16 bits, lossless
//! and near-lossless, grey and colour in every interleave mode. Fixtures
//! from tools/reference/jpeg_ls_reference.py.

use chexlens_jpeg::ls as jpeg_ls;
use serde_json::Value;
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jpeg_ls")
}

#[test]
fn every_sample_equals_charls() {
    let index: Value = serde_json::from_str(&std::fs::read_to_string(fixtures().join("index.json")).unwrap()).unwrap();
    let cases = index["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 15);
    for case in cases {
        let file = case["file"].as_str().unwrap();
        let stream = std::fs::read(fixtures().join(file)).unwrap();
        let decoded = jpeg_ls::decode(&stream).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(decoded.width as u64, case["width"].as_u64().unwrap(), "{file}");
        assert_eq!(decoded.height as u64, case["height"].as_u64().unwrap(), "{file}");
        assert_eq!(
            decoded.components as u64,
            case["components"].as_u64().unwrap(),
            "{file}"
        );
        assert_eq!(decoded.bits as u64, case["bits"].as_u64().unwrap(), "{file}");
        let expected: Vec<u16> = std::fs::read(fixtures().join(case["expected"].as_str().unwrap()))
            .unwrap()
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(decoded.samples.len(), expected.len(), "{file}");
        let differing = decoded.samples.iter().zip(&expected).filter(|(a, b)| a != b).count();
        assert_eq!(differing, 0, "{file}: {differing} samples differ from CharLS");
    }
}

#[test]
fn every_cut_is_refused_and_nothing_panics() {
    let stream = std::fs::read(fixtures().join("rgb8_near2_sample.jls")).unwrap();
    for cut in 0..stream.len() - 2 {
        assert!(jpeg_ls::decode(&stream[..cut]).is_err(), "cut at {cut} decoded");
    }
}

#[test]
fn flipped_bits_give_errors_or_images_never_panics() {
    let stream = std::fs::read(fixtures().join("grey12_near2.jls")).unwrap();
    for i in (0..stream.len()).step_by(3) {
        let mut broken = stream.clone();
        broken[i] ^= 0x5A;
        if let Ok(image) = jpeg_ls::decode(&broken) {
            assert_eq!(image.samples.len(), image.width * image.height * image.components);
        }
    }
}
