//! Files chexlens writes for people to take away: PNG overlays and the zip
//! archive the page's batch export packs them in.

mod png;
mod zip;

pub use png::encode_rgb_png;
pub use zip::{MAX_ENTRIES as MAX_ZIP_ENTRIES, ZipError, ZipStream};
