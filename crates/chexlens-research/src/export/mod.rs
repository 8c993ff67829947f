//! The zip archive the page's batch export packs its files in.

mod zip;

pub use zip::{MAX_ENTRIES as MAX_ZIP_ENTRIES, ZipError, ZipStream};
