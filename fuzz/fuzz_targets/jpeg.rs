//! The JPEG decoder alone (baseline, extended 8/12-bit, progressive;
//! Huffman and arithmetic coded; damaged data decoded as libjpeg-turbo
//! does), with both colour rules; the last byte picks the rule.
#![no_main]
use chexlens_jpeg::dct::{ColourRule, Planes, decode_with, frame_info};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let rule = match data.last() {
        Some(b) if b & 1 == 1 => ColourRule::Dicom { ybr: b & 2 == 2 },
        _ => ColourRule::Markers,
    };
    let _ = frame_info(data);
    if let Ok(image) = decode_with(data, rule) {
        let pixels = image.width * image.height;
        match &image.planes {
            Planes::Eight(planes) => assert!(image.precision == 8 && planes.iter().all(|p| p.len() == pixels)),
            Planes::Twelve(planes) => {
                assert!(image.precision == 12 && planes.iter().all(|p| p.len() == pixels));
                assert!(planes.iter().flatten().all(|&v| v < 1 << 12));
            }
        }
        // Each kind of damage is kept once, whatever the file repeats.
        assert!(image.damage.records().len() <= 5);
    }
});
