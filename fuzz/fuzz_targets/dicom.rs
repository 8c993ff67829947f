//! DICOM files: the data set, the pixel data codecs, windowing and tags,
//! and frame selection (the last byte picks one of the first four frames).
#![no_main]
use chexlens_formats::decode_xray_frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let frame = data.last().map_or(0, |&b| u32::from(b % 4));
    let _ = decode_xray_frame(data, frame);
});
