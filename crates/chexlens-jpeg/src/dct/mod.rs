//! JPEG's DCT processes (baseline, extended sequential with 8- or 12-bit
//! samples, progressive; Huffman or arithmetic coded), decoded exactly as
//! libjpeg-turbo decodes them by default, which is what Pillow (the
//! reference pipeline's decoder) gives: its integer IDCT ("islow"), its
//! fancy upsampling and its YCbCr tables. Damaged entropy data is decoded
//! as libjpeg-turbo decodes it, and what was damaged is returned with the
//! image ([`DamageLog`]), never passed over in silence. Pure Rust, so the
//! page decodes the same samples.
//!
//! A file is read twice: first its markers alone, to its end, so that a
//! cut-off or malformed file is refused before anything the size of the
//! image is allocated; then decoded.
//!
//! Refused by name: hierarchical and lossless JPEG (DICOM reads lossless
//! JPEG through dicom-rs), CMYK and fractional subsampling.

mod arith;
mod colour;
mod damage;
mod entropy;
mod frame;
mod idct;
mod markers;
mod samples;
mod scan;
mod segments;
mod stream;
mod upsample;

pub use damage::{Damage, DamageLog, DamageRecord};
pub use samples::Planes;

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

/// A decoded JPEG: one grey plane or R, G, B planes of `precision`-bit
/// samples (bytes for 8-bit files), and the damage its data had (empty
/// for a sound file).
#[derive(Debug, Clone, PartialEq)]
pub struct JpegImage {
    pub width: usize,
    pub height: usize,
    pub precision: u8,
    pub planes: Planes,
    pub damage: DamageLog,
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
        0xC3 | 0xCB => "lossless",
        0xC5..=0xC7 | 0xCD..=0xCF => "hierarchical",
        // Reserved markers, which libjpeg refuses too.
        0x02..=0xBF | 0xC8 | 0xDE | 0xDF | 0xF0..=0xFD => {
            return Err(JpegError::Corrupt(format!("an unknown marker 0x{marker:02X}")));
        }
        _ => return Ok(()),
    };
    Err(JpegError::Unsupported(what.into()))
}

/// Frame headers of the processes decoded: baseline, extended and
/// progressive, Huffman or arithmetic coded.
fn is_frame(marker: u8) -> bool {
    matches!(marker, 0xC0..=0xC2 | 0xC9 | 0xCA)
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
                if is_frame(marker) {
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
    // First the structure alone: nothing the size of the image yet.
    read_markers(bytes, None)?;
    let mut damage = DamageLog::default();
    let (frame, tables) = read_markers(bytes, Some(&mut damage))?;
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
        damage,
    })
}

/// Reads the file's markers from SOI to EOI, as jdmarker.c does. Without
/// a log, each scan's data is only skipped (and its work charged); with
/// one, scans are decoded and the damage found is noted there.
fn read_markers(bytes: &[u8], mut log: Option<&mut DamageLog>) -> Result<(frame::Frame, Tables), JpegError> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Err(JpegError::NotJpeg);
    }
    let mut tables = Tables::default();
    let mut frame: Option<frame::Frame> = None;
    let mut scans = 0usize;
    let mut pos = 2;
    // Bytes the last scan read but did not use, counted as extraneous.
    let mut unused = 0;
    loop {
        let found = segments::find_marker(bytes, pos)?;
        let skipped = found.discarded + std::mem::take(&mut unused);
        if let Some(log) = log.as_deref_mut().filter(|_| skipped > 0) {
            log.note(Damage::Extraneous {
                bytes: skipped,
                marker: found.code,
            });
        }
        let (marker, after) = (found.code, found.after);
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
                    _ if is_frame(marker) => {
                        if frame.is_some() {
                            return Err(JpegError::Corrupt("a second frame header".into()));
                        }
                        let header = markers::frame(marker, body)?;
                        check_size(header.width, header.height)?;
                        frame = Some(frame::Frame::new(header)?);
                    }
                    0xC4 => tables.read_huffman(body)?,
                    0xCC => tables.conditioning.read(body)?,
                    0xDB => tables.read_quant(body)?,
                    0xDD => tables.read_restart_interval(body)?,
                    0xE0 | 0xEE => tables.read_app(marker, body),
                    0xDA => {
                        let frame = frame
                            .as_mut()
                            .ok_or_else(|| JpegError::Corrupt("a scan comes before the frame header".into()))?;
                        if frame.storage == frame::Storage::Streaming {
                            // libjpeg's single-scan mode expects EOI here.
                            return Err(JpegError::Corrupt(
                                "a second scan after one that held every component".into(),
                            ));
                        }
                        let ids: Vec<u8> = frame.components.iter().map(|c| c.id).collect();
                        let header = markers::scan(body, &ids, frame.progressive, frame.arithmetic)?;
                        match log.as_deref_mut() {
                            None => {
                                frame.choose_storage(header.components.len());
                                pos = scan::skip_scan(bytes, next, frame, &header, &tables)?;
                            }
                            Some(log) => {
                                (pos, unused) = scan::decode_scan(bytes, next, frame, &header, &tables, log)?;
                            }
                        }
                        scans += 1;
                    }
                    // APPn, COM, DNL: nothing the pixels depend on.
                    _ => {}
                }
            }
        }
    }
    let frame = frame.ok_or_else(|| JpegError::Corrupt("no frame header".into()))?;
    if scans == 0 {
        return Err(JpegError::Corrupt("no image data".into()));
    }
    Ok((frame, tables))
}
