//! PNG and JPEG decoding, then the preprocessing the model input goes through.
#![no_main]
use chexlens_formats::{InputConfig, decode_image};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(image) = decode_image(data) {
        let input = InputConfig {
            size: 32,
            ..InputConfig::default()
        };
        let _ = input.prepare(&image);
    }
});
