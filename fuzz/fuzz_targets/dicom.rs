//! DICOM files: the data set, the pixel data codecs, windowing and tags,
//! frame selection (the last byte picks one of the first four frames), and
//! the viewer's full-depth values with their presets and preview.
#![no_main]
use chexlens_images::input::decode_xray_frame_with_levels;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let frame = data.last().map_or(0, |&b| u32::from(b % 4));
    if let Ok(loaded) = decode_xray_frame_with_levels(data, frame)
        && let Some(levels) = loaded.levels
    {
        let preview = levels.preview(16, 16);
        for preset in &preview.presets {
            let _ = preview.render(&preset.window);
        }
    }
});
