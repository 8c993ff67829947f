//! chexlens results handed back to the hospital's world as DICOM: for an
//! analysed image, a Comprehensive SR following TID 1500 (Measurement
//! Report) with each label's probability and decision, and its heat-map
//! overlays as Secondary Capture images, all in the source image's study
//! (a new series each) and referencing it. Written by dicom-rs's object
//! writer, natively and in the page alike.
//!
//! The objects say what they are: research results, not a diagnosis, from
//! a named algorithm whose members' sha256 and settings they carry. UIDs are
//! fresh, under `2.25` ([`uid`]).

mod capture;
mod codes;
mod content;
mod elements;
mod error;
mod provenance;
mod report;
mod series;
mod source;
mod time;
pub mod uid;

pub use error::DicomOutError;
pub use provenance::{LabelResult, Provenance};
pub use series::ResultSeries;
pub use source::{ImageReference, Source};
pub use time::Timestamp;

/// The SR's file name for an image of stem `stem`: `<stem>_report.dcm`.
pub fn report_file_name(stem: &str) -> String {
    format!("{stem}_report.dcm")
}

/// A capture's file name: `<stem>_<label>.dcm`, the label as `--cam`'s PNGs
/// name it ("Pleural Effusion" -> `pleural_effusion`).
pub fn capture_file_name(stem: &str, label: &str) -> String {
    format!("{stem}_{}.dcm", chexlens_chexpert::labels::file_slug(label))
}

/// What every object says of itself: research, not diagnosis.
pub const RESEARCH_STATEMENT: &str = "Research result from a machine-learning model (chexlens), not a diagnosis: not verified by a physician and not for clinical decisions.";

/// Series numbers of the objects, high so that they sort after the acquisition's.
const REPORT_SERIES_NUMBER: &str = "900";
const CAPTURE_SERIES_NUMBER: &str = "901";
