//! What a user's file becomes before the model sees it: PNG, JPEG or
//! DICOM bytes in, an [`XrayImage`] (and a DICOM's tags) out, within hard
//! bounds: the one entry for any file. The decoded types and their limits
//! (`crate::image`, `crate::levels`) are shared with the decoders, which
//! this module calls and which do not call back.

mod raster;

pub use raster::{decode_image, is_grey_raster};

use crate::image::{MAX_FILE_BYTES, XrayImage};
use crate::levels::GreyLevels;

use crate::dicom::{DicomSummary, DicomTags, is_dicom};
use crate::suitability::{Warning, damaged, file_warnings};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImageError {
    #[error("the file is empty")]
    Empty,
    #[error("not a PNG, JPEG or DICOM image")]
    UnknownFormat,
    #[error("{0} images are not supported; use PNG, JPEG or DICOM")]
    UnsupportedFormat(String),
    #[error("the image is {width}x{height} pixels, larger than the {max_mp} megapixel limit")]
    TooLarge { width: u32, height: u32, max_mp: u64 },
    #[error("the file is {0} bytes; images are read up to {max} MB", max = MAX_FILE_BYTES >> 20)]
    FileTooLarge(u64),
    #[error("the image has zero width or height")]
    ZeroSize,
    #[error("the image is corrupt or truncated ({0})")]
    Corrupt(String),
    #[error("frame {0} was asked for, but PNG and JPEG files hold one image")]
    SingleFrame(u32),
    #[error("{0}")]
    Jpeg(chexlens_jpeg::dct::JpegError),
    #[error("{0}")]
    Dicom(#[from] crate::dicom::DicomError),
}

/// What a DICOM file added to its image.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DicomDetails {
    pub tags: DicomTags,
    pub summary: DicomSummary,
    pub notices: Vec<String>,
}

/// An X-ray file as the model sees it.
#[derive(Debug, Clone)]
pub struct LoadedXray {
    pub image: XrayImage,
    /// Present for DICOM files.
    pub dicom: Option<DicomDetails>,
    /// A grey image's values at full depth, where they were asked for.
    pub levels: Option<GreyLevels>,
    /// What the file says about being a chest radiograph (`suitability`).
    pub warnings: Vec<Warning>,
}

/// Whether the viewer gets the file's own values (window/level, the pixel
/// probe): DICOM, and PNG or JPEG files that are grey.
pub fn has_grey_levels(bytes: &[u8]) -> bool {
    is_dicom(bytes) || is_grey_raster(bytes)
}

/// Decodes PNG, JPEG or DICOM (recognised by its DICM magic, whatever the
/// file's name); a multi-frame DICOM gives its first frame.
pub fn decode_xray(bytes: &[u8]) -> Result<LoadedXray, ImageError> {
    decode_xray_frame(bytes, 0)
}

/// As [`decode_xray`], with frame `index` (from 0) of a multi-frame DICOM;
/// other files have only frame 0.
pub fn decode_xray_frame(bytes: &[u8], index: u32) -> Result<LoadedXray, ImageError> {
    decode(bytes, index, false)
}

/// As [`decode_xray_frame`], with a grey image's values at full depth for
/// the viewer ([`LoadedXray::levels`]).
pub fn decode_xray_frame_with_levels(bytes: &[u8], index: u32) -> Result<LoadedXray, ImageError> {
    decode(bytes, index, true)
}

fn decode(bytes: &[u8], index: u32, with_levels: bool) -> Result<LoadedXray, ImageError> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ImageError::FileTooLarge(bytes.len() as u64));
    }
    if is_dicom(bytes) {
        let dicom = if with_levels {
            crate::dicom::decode_dicom_frame_with_levels(bytes, index)?
        } else {
            crate::dicom::decode_dicom_frame(bytes, index)?
        };
        let mut warnings = file_warnings(&dicom.image, Some(&dicom.summary));
        warnings.extend(dicom.damage.as_deref().map(damaged));
        return Ok(LoadedXray {
            warnings,
            image: dicom.image,
            dicom: Some(DicomDetails {
                tags: dicom.tags,
                summary: dicom.summary,
                notices: dicom.notices,
            }),
            levels: dicom.levels,
        });
    }
    let raster::Raster { image, levels, damage } = raster::decode_raster(bytes, with_levels)?;
    if index > 0 {
        // Said after decoding, so that a file that is no image says so first.
        return Err(ImageError::SingleFrame(index.saturating_add(1)));
    }
    let mut warnings = file_warnings(&image, None);
    warnings.extend(damage.as_deref().map(damaged));
    Ok(LoadedXray {
        warnings,
        image,
        dicom: None,
        levels,
    })
}
