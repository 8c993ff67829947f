//! chexlens-jpeg: JPEG and JPEG-LS decoders in pure Rust that give the same
//! samples as the reference decoders (libjpeg-turbo as Pillow calls it;
//! CharLS), so that a radiograph decodes to the same numbers in the browser
//! as in the PyTorch pipeline. Every size a file declares is checked against
//! `limits` before anything is allocated. See this crate's README.

/// JPEG's DCT processes: baseline, extended sequential (8 and 12 bit), progressive.
pub mod dct;
/// The bounds every decode is held to, whatever the file says about itself.
pub mod limits;
/// JPEG-LS (ISO 14495-1), lossless and near-lossless.
pub mod ls;
