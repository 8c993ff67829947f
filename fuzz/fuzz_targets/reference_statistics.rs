//! Reference statistics files (`.safetensors` with chexlens metadata), as
//! the page and the CLI read them from beside a model: every shape and
//! value is checked, nothing panics.
#![no_main]
use chexlens_reference::file::from_bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = from_bytes(data);
});
