//! A DICOM file's study and UIDs as the DICOM export reads them, and the
//! objects written from them: whatever the source holds, nothing panics,
//! and the SR and capture written are files chexlens's own reader opens.
#![no_main]
use chexlens_chexpert::metadata::Metadata;
use chexlens_dicom_out::{LabelResult, Provenance, ResultSeries, Source, Timestamp};
use chexlens_images::preprocess::InputConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = Source::from_dicom(data) else {
        return;
    };
    let provenance = Provenance::new("fuzz", true, vec![None], &Metadata::default(), &InputConfig::default());
    let Ok(mut series) = ResultSeries::new(source, provenance, Timestamp::from_unix_seconds(0)) else {
        return;
    };
    let results = [LabelResult { label: "Edema".into(), probability: 0.5, threshold: 0.5 }];
    let report = series.report(&results, &["a warning".into()]).expect("an SR is written");
    chexlens_images::dicom::open(&report).expect("the SR written reads back");
    let capture = series.capture("Edema", &[7; 2 * 3 * 3], 2, 3).expect("a capture is written");
    chexlens_images::dicom::open(&capture).expect("the capture written reads back");
});
