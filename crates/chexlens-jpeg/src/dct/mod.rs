//! JPEG's DCT processes (baseline, extended sequential with 8- or 12-bit
//! samples, progressive; Huffman coded), decoded exactly as libjpeg-turbo
//! decodes them by default, which is what Pillow (the reference
//! pipeline's decoder) gives: its integer IDCT ("islow"), its fancy
//! upsampling and its YCbCr tables. Pure Rust, so the page decodes the
//! same samples. The frame's size is checked before anything is allocated.
//!
//! Refused by name: arithmetic coding, hierarchical and lossless JPEG (DICOM
//! reads lossless JPEG through dicom-rs), CMYK and fractional subsampling.

mod colour;
mod entropy;
mod frame;
mod idct;
mod markers;
mod scan;
mod segments;
mod upsample;

use crate::limits::{MAX_PIXELS, MAX_SIDE};
use colour::ColourSpace;
pub(crate) use entropy::BitBuffer;
use markers::Tables;
pub(crate) use segments::{next_marker, segment};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JpegError {
    #[error("not a JPEG (no start-of-image marker)")]
    NotJpeg,
    #[error("the JPEG is truncated ({0})")]
    Truncated(&'static str),
    #[error("the JPEG is corrupt ({0})")]
    Corrupt(String),
    #[error("{0} JPEGs are not supported; save the image as PNG, or as a baseline or progressive JPEG")]
    Unsupported(String),
    #[error("the JPEG is {width}x{height} pixels, larger than the {max_mp} megapixel limit")]
    TooLarge { width: u32, height: u32, max_mp: u64 },
}

/// A decoded JPEG: one grey plane or R, G, B planes of `precision`-bit samples.
#[derive(Debug, Clone, PartialEq)]
pub struct JpegImage {
    pub width: usize,
    pub height: usize,
    pub precision: u8,
    pub planes: Vec<Vec<u16>>,
}

/// What the frame header says, read without decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    pub width: u32,
    pub height: u32,
    pub precision: u8,
    pub components: usize,
}

fn check_size(width: u32, height: u32) -> Result<(), JpegError> {
    if width > MAX_SIDE || height > MAX_SIDE || width as u64 * height as u64 > MAX_PIXELS {
        return Err(JpegError::TooLarge {
            width,
            height,
            max_mp: MAX_PIXELS / 1_000_000,
        });
    }
    Ok(())
}

fn refuse_process(marker: u8) -> Result<(), JpegError> {
    let what = match marker {
        0xC3 => "lossless",
        0xC5..=0xC7 => "hierarchical",
        0xC9..=0xCF => "arithmetic-coded",
        _ => return Ok(()),
    };
    Err(JpegError::Unsupported(what.into()))
}

/// The frame header alone: size, precision, components.
pub fn frame_info(bytes: &[u8]) -> Result<FrameInfo, JpegError> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Err(JpegError::NotJpeg);
    }
    let mut pos = 2;
    loop {
        let (marker, after) = segments::next_marker(bytes, pos)?;
        refuse_process(marker)?;
        match marker {
            0xD9 | 0xDA => return Err(JpegError::Corrupt("no frame header before the image data".into())),
            0xD0..=0xD8 | 0x01 => pos = after,
            _ => {
                let (body, next) = segments::segment(bytes, after)?;
                if matches!(marker, 0xC0..=0xC2) {
                    let header = markers::frame(marker, body)?;
                    return Ok(FrameInfo {
                        width: header.width,
                        height: header.height,
                        precision: header.precision,
                        components: header.components.len(),
                    });
                }
                pos = next;
            }
        }
    }
}

/// How a three-component JPEG's colour space is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColourRule {
    /// By its markers and component identifiers, as libjpeg (and so Pillow) does.
    Markers,
    /// By a DICOM file's Photometric Interpretation (YBR_FULL or
    /// YBR_FULL_422 when `ybr`), as the DICOM standard and pydicom do.
    Dicom { ybr: bool },
}

/// Decodes a whole JPEG file (from SOI to EOI) as Pillow does.
pub fn decode(bytes: &[u8]) -> Result<JpegImage, JpegError> {
    decode_with(bytes, ColourRule::Markers)
}

/// Decodes a whole JPEG stream, its colour space decided by `rule`.
pub fn decode_with(bytes: &[u8], rule: ColourRule) -> Result<JpegImage, JpegError> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Err(JpegError::NotJpeg);
    }
    let mut tables = Tables::default();
    let mut frame: Option<frame::Frame> = None;
    let mut scans = 0usize;
    let mut pos = 2;
    loop {
        let (marker, after) = segments::next_marker(bytes, pos)?;
        refuse_process(marker)?;
        match marker {
            0xD9 => break,
            0xD8 => return Err(JpegError::Corrupt("a second start-of-image marker".into())),
            // Stray restart markers and TEM carry no length; libjpeg passes them.
            0xD0..=0xD7 | 0x01 => pos = after,
            _ => {
                let (body, next) = segments::segment(bytes, after)?;
                pos = next;
                match marker {
                    0xC0..=0xC2 => {
                        if frame.is_some() {
                            return Err(JpegError::Corrupt("a second frame header".into()));
                        }
                        let header = markers::frame(marker, body)?;
                        check_size(header.width, header.height)?;
                        frame = Some(frame::Frame::new(header)?);
                    }
                    0xC4 => tables.read_huffman(body)?,
                    0xDB => tables.read_quant(body)?,
                    0xDD => tables.read_restart_interval(body)?,
                    0xE0 | 0xEE => tables.read_app(marker, body),
                    0xDA => {
                        let frame = frame
                            .as_mut()
                            .ok_or_else(|| JpegError::Corrupt("a scan comes before the frame header".into()))?;
                        let ids: Vec<u8> = frame.components.iter().map(|c| c.id).collect();
                        let header = markers::scan(body, &ids, frame.progressive)?;
                        pos = scan::decode_scan(bytes, next, frame, &header, &tables)?;
                        scans += 1;
                    }
                    // APPn, COM, DNL and others: nothing the pixels depend on.
                    _ => {}
                }
            }
        }
    }
    let frame = frame.ok_or_else(|| JpegError::Corrupt("no frame header".into()))?;
    if scans == 0 {
        return Err(JpegError::Corrupt("no image data".into()));
    }
    let ids: Vec<u8> = frame.components.iter().map(|c| c.id).collect();
    let colour = match rule {
        ColourRule::Markers => ColourSpace::of(&ids, tables.jfif, tables.adobe_transform),
        ColourRule::Dicom { ybr } => ColourSpace::for_dicom(&ids, tables.jfif, ybr),
    };
    let (width, height, precision) = (frame.width, frame.height, frame.precision);
    Ok(JpegImage {
        width,
        height,
        precision,
        planes: frame.into_planes(colour),
    })
}
