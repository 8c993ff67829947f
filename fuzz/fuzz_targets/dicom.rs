//! DICOM files: the data set, the pixel data codecs, windowing and tags.
#![no_main]
use chexlens_formats::decode_xray;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_xray(data);
});
