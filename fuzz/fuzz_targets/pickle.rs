//! The restricted pickle machine on its own, without the zip around it
//! (whose checksum would stop most mutations before the pickle).
#![no_main]
use chexlens_checkpoints::weights::pickle::read_pickle;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = read_pickle(data);
});
