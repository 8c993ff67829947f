//! CSV files researchers bring: labelled sets in CheXpert's layout and
//! chexlens's own prediction files, parsed within bounds.
#![no_main]
use chexlens_research::evaluation::Predictions;
use chexlens_research::labelled::LabelledSet;
use chexlens_chexpert::labels::default_labels;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let labels = default_labels();
    let _ = LabelledSet::parse(data, &labels);
    let _ = Predictions::parse(data, None);
});
