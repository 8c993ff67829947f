//! PNG and JPEG decoding, then the preprocessing the model input goes
//! through, and a grey image's full-depth values as the viewer reads them.
#![no_main]
use chexlens_images::input::is_grey_raster;
use chexlens_images::levels::GreyLevels;
use chexlens_images::preprocess::InputConfig;
use chexlens_images::input::decode_xray_frame_with_levels;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = is_grey_raster(data);
    if let Ok(loaded) = decode_xray_frame_with_levels(data, 0) {
        let input = InputConfig {
            size: 32,
            ..InputConfig::default()
        };
        let _ = input.prepare(&loaded.image);
        if let Some(levels) = loaded.levels {
            // The page rebuilds the values from the worker's bytes.
            let back = GreyLevels::from_le_bytes(levels.info.clone(), &levels.to_le_bytes());
            assert_eq!(back.as_ref(), Some(&levels));
            let preview = back.unwrap().preview(8, 8);
            let _ = preview.render(&preview.presets[0].window);
        }
    }
});
