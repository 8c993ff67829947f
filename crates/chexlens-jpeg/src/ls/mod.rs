//! JPEG-LS (ITU-T T.87), lossless and near-lossless, as DICOM stores it
//! (transfer syntaxes 1.2.840.10008.1.2.4.80 and .81): 2 to 16 bits, one
//! component or three (not interleaved, line or sample interleaved), with
//! the LSE marker's preset parameters. Pure Rust, for the page as well.
//!
//! Refused by name: mapping tables (palettes), point transforms, restart
//! intervals and subsampled components, which DICOM files do not use.

mod bits;
mod coding;

use crate::limits::{MAX_PIXELS, MAX_SIDE};
use coding::{Coder, Params};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JpegLsError {
    #[error("not a JPEG-LS stream (no start-of-image marker)")]
    NotJpegLs,
    #[error("the JPEG-LS data is truncated ({0})")]
    Truncated(&'static str),
    #[error("the JPEG-LS data is corrupt ({0})")]
    Corrupt(String),
    #[error("JPEG-LS with {0} is not supported")]
    Unsupported(String),
    #[error("the JPEG-LS image is {width}x{height} pixels, larger than the {max_mp} megapixel limit")]
    TooLarge { width: u32, height: u32, max_mp: u64 },
}

/// A decoded image: samples interleaved per pixel, `components` per pixel.
#[derive(Debug, Clone, PartialEq)]
pub struct JpegLsImage {
    pub width: usize,
    pub height: usize,
    pub components: usize,
    pub bits: u8,
    pub samples: Vec<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    pub width: u32,
    pub height: u32,
    pub bits: u8,
    pub components: usize,
}

/// Marker-level faults (segments cut off or malformed) in JPEG-LS's words.
impl From<crate::dct::JpegError> for JpegLsError {
    fn from(error: crate::dct::JpegError) -> Self {
        match error {
            crate::dct::JpegError::Truncated(what) => Self::Truncated(what),
            crate::dct::JpegError::Corrupt(what) => Self::Corrupt(what),
            other => Self::Corrupt(other.to_string()),
        }
    }
}

fn next_marker(data: &[u8], pos: usize) -> Result<(u8, usize), JpegLsError> {
    Ok(crate::dct::next_marker(data, pos)?)
}

fn segment(data: &[u8], pos: usize) -> Result<(&[u8], usize), JpegLsError> {
    Ok(crate::dct::segment(data, pos)?)
}

fn frame(body: &[u8]) -> Result<(FrameInfo, Vec<u8>), JpegLsError> {
    let &[bits, h0, h1, w0, w1, count, ..] = body else {
        return Err(JpegLsError::Corrupt("the frame header is too short".into()));
    };
    let (height, width) = (u16::from_be_bytes([h0, h1]) as u32, u16::from_be_bytes([w0, w1]) as u32);
    if !(2..=16).contains(&bits) {
        return Err(JpegLsError::Corrupt(format!(
            "{bits}-bit samples are outside JPEG-LS's 2 to 16"
        )));
    }
    if width == 0 || height == 0 {
        return Err(JpegLsError::Unsupported(
            "a size given elsewhere (zero width or height)".into(),
        ));
    }
    if count != 1 && count != 3 {
        return Err(JpegLsError::Unsupported(format!("{count} components")));
    }
    let specs = body
        .get(6..6 + 3 * count as usize)
        .ok_or_else(|| JpegLsError::Corrupt("the frame header is too short".into()))?;
    if specs.chunks_exact(3).any(|c| c[1] != 0x11) {
        return Err(JpegLsError::Unsupported("subsampled components".into()));
    }
    let ids = specs.chunks_exact(3).map(|c| c[0]).collect();
    Ok((
        FrameInfo {
            width,
            height,
            bits,
            components: count as usize,
        },
        ids,
    ))
}

/// The frame header alone.
pub fn frame_info(bytes: &[u8]) -> Result<FrameInfo, JpegLsError> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Err(JpegLsError::NotJpegLs);
    }
    let mut pos = 2;
    loop {
        let (marker, after) = next_marker(bytes, pos)?;
        if marker == 0xD9 || marker == 0xDA {
            return Err(JpegLsError::Corrupt("no frame header before the image data".into()));
        }
        let (body, next) = segment(bytes, after)?;
        if marker == 0xF7 {
            return Ok(frame(body)?.0);
        }
        pos = next;
    }
}

/// Preset parameters from an LSE segment of type 1 (C.2.4.1.1).
#[derive(Default, Clone, Copy)]
struct Presets {
    maxval: i32,
    thresholds: [i32; 3],
    reset: i32,
}

fn read_lse(body: &[u8], presets: &mut Presets) -> Result<(), JpegLsError> {
    match body.first() {
        Some(1) => {
            let value = |i: usize| body.get(i..i + 2).map(|b| u16::from_be_bytes([b[0], b[1]]) as i32);
            let (Some(maxval), Some(t1), Some(t2), Some(t3), Some(reset)) =
                (value(1), value(3), value(5), value(7), value(9))
            else {
                return Err(JpegLsError::Corrupt("the preset parameters are cut off".into()));
            };
            *presets = Presets {
                maxval,
                thresholds: [t1, t2, t3],
                reset,
            };
            Ok(())
        }
        Some(2 | 3) => Err(JpegLsError::Unsupported("mapping tables".into())),
        Some(4) => Err(JpegLsError::Unsupported("oversize dimensions".into())),
        _ => Err(JpegLsError::Corrupt("an LSE segment of unknown type".into())),
    }
}

/// Decodes a whole JPEG-LS stream (from SOI to EOI).
pub fn decode(bytes: &[u8]) -> Result<JpegLsImage, JpegLsError> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Err(JpegLsError::NotJpegLs);
    }
    let mut presets = Presets::default();
    let mut header: Option<(FrameInfo, Vec<u8>)> = None;
    let mut samples: Vec<u16> = Vec::new();
    let mut decoded = [false; 3];
    let mut pos = 2;
    loop {
        let (marker, after) = next_marker(bytes, pos)?;
        if marker == 0xD9 {
            break;
        }
        let (body, next) = segment(bytes, after)?;
        pos = next;
        match marker {
            0xF7 => {
                if header.is_some() {
                    return Err(JpegLsError::Corrupt("a second frame header".into()));
                }
                let (info, ids) = frame(body)?;
                if info.width > MAX_SIDE
                    || info.height > MAX_SIDE
                    || info.width as u64 * info.height as u64 > MAX_PIXELS
                {
                    return Err(JpegLsError::TooLarge {
                        width: info.width,
                        height: info.height,
                        max_mp: MAX_PIXELS / 1_000_000,
                    });
                }
                samples = vec![0; info.width as usize * info.height as usize * info.components];
                header = Some((info, ids));
            }
            0xF8 => read_lse(body, &mut presets)?,
            0xDD => return Err(JpegLsError::Unsupported("restart intervals".into())),
            0xC0..=0xCF if marker != 0xC4 && marker != 0xC8 && marker != 0xCC => {
                return Err(JpegLsError::Corrupt("a DCT frame header in a JPEG-LS stream".into()));
            }
            0xDA => {
                let (info, ids) = header
                    .as_ref()
                    .ok_or_else(|| JpegLsError::Corrupt("a scan comes before the frame header".into()))?;
                pos = decode_scan(bytes, next, body, info, ids, &presets, &mut samples, &mut decoded)?;
            }
            _ => {}
        }
    }
    let (info, _) = header.ok_or_else(|| JpegLsError::Corrupt("no frame header".into()))?;
    if decoded[..info.components].iter().any(|done| !done) {
        return Err(JpegLsError::Corrupt("a component has no scan".into()));
    }
    Ok(JpegLsImage {
        width: info.width as usize,
        height: info.height as usize,
        components: info.components,
        bits: info.bits,
        samples,
    })
}

#[allow(clippy::too_many_arguments)]
fn decode_scan(
    bytes: &[u8],
    start: usize,
    body: &[u8],
    info: &FrameInfo,
    ids: &[u8],
    presets: &Presets,
    samples: &mut [u16],
    decoded: &mut [bool; 3],
) -> Result<usize, JpegLsError> {
    let scan = ScanHeader::read(body, ids, decoded)?;
    let mut decoder = ScanDecoder {
        coder: Coder::new(scan_params(info, presets, scan.near)?),
        bits: bits::Bits::new(bytes, start),
        components: &scan.components,
        info,
        samples,
    };
    match (scan.interleave, scan.components.len()) {
        (0, 1) | (1, _) => decoder.lines()?,
        (2, 3) => decoder.pixel_lines()?,
        (2, _) => {
            return Err(JpegLsError::Unsupported(
                "sample interleaving of other than 3 components".into(),
            ));
        }
        (0, _) => return Err(bad_scan_header("interleaves nothing but names several components")),
        (mode, _) => return Err(bad_scan_header(&format!("has interleave mode {mode}"))),
    }
    for &component in &scan.components {
        decoded[component] = true;
    }
    Ok(decoder.bits.end())
}

fn bad_scan_header(what: &str) -> JpegLsError {
    JpegLsError::Corrupt(format!("the scan header {what}"))
}

/// What a scan header says: which of the frame's components the scan codes,
/// in order, its NEAR and its interleave mode.
struct ScanHeader {
    components: Vec<usize>,
    near: i32,
    interleave: u8,
}

impl ScanHeader {
    /// The header in `body`; each component must be in the frame and not
    /// yet `decoded`.
    fn read(body: &[u8], ids: &[u8], decoded: &[bool; 3]) -> Result<Self, JpegLsError> {
        let count = *body.first().ok_or_else(|| bad_scan_header("is empty"))? as usize;
        if !(1..=3).contains(&count) || body.len() < 1 + 2 * count + 3 {
            return Err(bad_scan_header("is malformed"));
        }
        let mut components = Vec::with_capacity(count);
        for spec in body[1..1 + 2 * count].chunks_exact(2) {
            let index = ids
                .iter()
                .position(|&id| id == spec[0])
                .ok_or_else(|| bad_scan_header("names a component the frame lacks"))?;
            if spec[1] != 0 {
                return Err(JpegLsError::Unsupported("mapping tables".into()));
            }
            if components.contains(&index) || decoded[index] {
                return Err(bad_scan_header("names a component twice"));
            }
            components.push(index);
        }
        let tail = &body[1 + 2 * count..];
        let (near, interleave, point_transform) = (tail[0] as i32, tail[1], tail[2] & 15);
        if point_transform != 0 {
            return Err(JpegLsError::Unsupported("a point transform".into()));
        }
        Ok(Self {
            components,
            near,
            interleave,
        })
    }
}

/// The coding parameters for a scan of `near`, from the presets or their
/// defaults, held to the standard's bounds.
fn scan_params(info: &FrameInfo, presets: &Presets, near: i32) -> Result<Params, JpegLsError> {
    let maxval = if presets.maxval == 0 {
        (1 << info.bits) - 1
    } else {
        presets.maxval
    };
    if maxval >= 1 << info.bits.max(2) || maxval < 1 || near > (maxval / 2).min(255) {
        return Err(bad_scan_header("has parameters outside the standard's bounds"));
    }
    let params = Params::with_defaults(maxval, near, presets.thresholds, presets.reset);
    if !(params.near < params.t1 && params.t1 <= params.t2 && params.t2 <= params.t3 && params.t3 <= maxval)
        || params.reset < 3
    {
        return Err(bad_scan_header("has thresholds outside the standard's bounds"));
    }
    Ok(params)
}

/// A scan being decoded: its coder and bits, the frame's components it
/// codes, and the frame's samples (interleaved per pixel) they go into.
struct ScanDecoder<'a, 's> {
    coder: Coder,
    bits: bits::Bits<'a>,
    components: &'s [usize],
    info: &'s FrameInfo,
    samples: &'s mut [u16],
}

impl ScanDecoder<'_, '_> {
    /// Width, height, and samples per pixel.
    fn size(&self) -> (usize, usize, usize) {
        (
            self.info.width as usize,
            self.info.height as usize,
            self.info.components,
        )
    }

    /// One component, or several interleaved line by line: each line of
    /// each component in turn.
    fn lines(&mut self) -> Result<(), JpegLsError> {
        let (width, height, stride) = self.size();
        let (coder, bits, samples, components) = (&mut self.coder, &mut self.bits, &mut *self.samples, self.components);
        let mut lines: Vec<[Vec<i32>; 2]> = (0..components.len())
            .map(|_| [vec![0; width + 2], vec![0; width + 2]])
            .collect();
        for y in 0..height {
            for (slot, &component) in components.iter().enumerate() {
                let [prev, cur] = &mut lines[slot];
                std::mem::swap(prev, cur);
                prev[width + 1] = prev[width];
                cur[0] = prev[1];
                coder.decode_line(bits, prev, cur, slot)?;
                for (x, &value) in cur[1..=width].iter().enumerate() {
                    samples[(y * width + x) * stride + component] = value as u16;
                }
            }
            bits.check_overrun()?;
        }
        Ok(())
    }

    /// Three components interleaved sample by sample.
    fn pixel_lines(&mut self) -> Result<(), JpegLsError> {
        let (width, height, stride) = self.size();
        let (coder, bits, samples, components) = (&mut self.coder, &mut self.bits, &mut *self.samples, self.components);
        let mut prev = vec![[0i32; 3]; width + 2];
        let mut cur = vec![[0i32; 3]; width + 2];
        for y in 0..height {
            std::mem::swap(&mut prev, &mut cur);
            prev[width + 1] = prev[width];
            cur[0] = prev[1];
            coder.decode_pixel_line(bits, &prev, &mut cur)?;
            for (x, pixel) in cur[1..=width].iter().enumerate() {
                for (slot, &component) in components.iter().enumerate() {
                    samples[(y * width + x) * stride + component] = pixel[slot] as u16;
                }
            }
            bits.check_overrun()?;
        }
        Ok(())
    }
}
