//! `.pth` files: the zip container, the pickle, the tensor views, then the
//! architecture read off the shapes, as a model load does.
#![no_main]
use chexlens_checkpoints::weights::StateDict;
use chexlens_checkpoints::architecture::read_weights;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = read_weights(data, "fuzz.pth", None);
    let _ = StateDict::from_bytes(data, "fuzz.pth");
});
