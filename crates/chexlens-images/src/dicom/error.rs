//! What can be wrong with a DICOM file, in words a user can act on.

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DicomError {
    #[error("not a DICOM file (no DICM marker at byte 0 or 128)")]
    NotDicom,
    #[error("the DICOM file is truncated or corrupt ({0})")]
    Corrupt(String),
    #[error(
        "the DICOM transfer syntax {name} ({uid}) is not supported; chexlens reads uncompressed, deflated, \
         RLE, JPEG (baseline, 8- and 12-bit extended, lossless), JPEG-LS and JPEG 2000 files"
    )]
    UnsupportedTransferSyntax { name: String, uid: String },
    #[error("the DICOM file holds no image (no Pixel Data element)")]
    NoPixelData,
    #[error(
        "DICOM images with photometric interpretation {0} are not supported (radiographs are MONOCHROME1 or MONOCHROME2)"
    )]
    UnsupportedPhotometric(String),
    #[error("DICOM pixels of {allocated} bits allocated and {stored} bits stored are not supported")]
    UnsupportedBits { allocated: u16, stored: u16 },
    #[error("the DICOM image is {width}x{height} pixels, larger than the {max_mp} megapixel limit")]
    TooLarge { width: u32, height: u32, max_mp: u64 },
    #[error("the DICOM image has zero rows or columns")]
    ZeroSize,
    #[error("the DICOM pixel data could not be decoded ({0})")]
    Decode(String),
    /// `asked` counts from 1, as DICOM's frame numbers do.
    #[error("frame {asked} was asked for, but the DICOM file has {frames} frame(s)")]
    NoSuchFrame { asked: u32, frames: u32 },
}

/// An error chain as "outermost: innermost": what failed and why, without
/// the layers in between (they name dicom-rs internals).
pub(crate) fn short(err: &dyn std::error::Error) -> String {
    let first_line = |e: &dyn std::error::Error| e.to_string().lines().next().unwrap_or_default().trim().to_owned();
    let outer = first_line(err);
    let mut inner = err.source();
    while let Some(next) = inner.and_then(|e| e.source()) {
        inner = Some(next);
    }
    match inner.map(first_line) {
        Some(cause) if !cause.is_empty() && cause != outer => format!("{outer}: {cause}"),
        _ if outer.is_empty() => "unreadable data set".to_owned(),
        _ => outer,
    }
}
