//! The JPEG-LS decoder alone (lossless and near-lossless, every interleave mode).
#![no_main]
use chexlens_jpeg::ls::{decode, frame_info};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = frame_info(data);
    if let Ok(image) = decode(data) {
        assert_eq!(image.samples.len(), image.width * image.height * image.components);
        assert!(image.samples.iter().all(|&v| (v as u32) < 1 << image.bits));
    }
});
