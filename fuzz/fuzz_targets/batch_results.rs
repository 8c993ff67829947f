//! The batch results the page reads back from the browser's storage after
//! a reload: damaged lines are counted, never trusted or panicked on.
#![no_main]
use chexlens_research::batch_results::parse_lines;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_lines(text, 14);
    }
});
