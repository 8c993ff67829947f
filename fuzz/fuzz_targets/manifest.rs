//! Model manifests (JSON), parsed and validated.
#![no_main]
use chexlens_checkpoints::manifest::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Manifest::from_json(text);
    }
});
