//! What a compressed frame says about itself, read before it is decoded:
//! a JPEG frame header (SOFn) or a JPEG 2000 image header (SIZ) must
//! describe exactly the image the DICOM tags do. A codec trusts its own
//! header, so a 60000 x 60000 frame inside a 16-row file would otherwise be
//! allocated, and a frame larger or with more components than Rows x
//! Columns x Samples per Pixel would be copied past its buffer.

use super::DicomError;

/// Dimensions and components a frame header declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub width: u32,
    pub height: u32,
    pub components: u32,
    pub precision: u32,
}

/// How far into a frame its header is looked for.
const SEARCH_LIMIT: usize = 1 << 20;

fn be16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?])))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

/// The first SOFn segment of a JPEG stream (ITU T.81 B.2.2), walking
/// marker segments from SOI; `None` when there is none before the scan.
pub fn jpeg(stream: &[u8]) -> Option<FrameHeader> {
    if !stream.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut at = 2;
    while at + 4 <= stream.len().min(SEARCH_LIMIT) {
        if stream[at] != 0xFF {
            return None;
        }
        let marker = stream[at + 1];
        if marker == 0xFF {
            at += 1; // fill byte
            continue;
        }
        let length = be16(stream, at + 2)? as usize;
        let is_sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) || marker == 0xF7;
        if is_sof {
            let body = at + 4;
            return Some(FrameHeader {
                precision: u32::from(*stream.get(body)?),
                height: be16(stream, body + 1)?,
                width: be16(stream, body + 3)?,
                components: u32::from(*stream.get(body + 5)?),
            });
        }
        if marker == 0xDA || length < 2 {
            return None;
        }
        at += 2 + length;
    }
    None
}

/// The SIZ segment of a JPEG 2000 codestream (ITU T.800 A.5.1), found by
/// its SOC + SIZ markers, raw or inside a JP2 file's codestream box.
pub fn jpeg2000(stream: &[u8]) -> Option<FrameHeader> {
    let window = &stream[..stream.len().min(SEARCH_LIMIT)];
    let at = window.windows(4).position(|w| w == [0xFF, 0x4F, 0xFF, 0x51])? + 4;
    let (x, y) = (be32(stream, at + 4)?, be32(stream, at + 8)?);
    let (x0, y0) = (be32(stream, at + 12)?, be32(stream, at + 16)?);
    let components = be16(stream, at + 36)?;
    let precision = u32::from(*stream.get(at + 38)? & 0x7F) + 1;
    Some(FrameHeader {
        width: x.checked_sub(x0)?,
        height: y.checked_sub(y0)?,
        components,
        precision,
    })
}

/// An RLE Lossless frame (PS3.5 G.3) must be able to hold its pixels: a
/// PackBits run expands 2 bytes to at most 128, so a frame takes at least
/// 1/64 of its decoded size. Checked before the decoded frame is
/// allocated, so a small file cannot claim a large image.
pub fn check_rle(fragment: &[u8], columns: u32, rows: u32, segments: u32) -> Result<(), DicomError> {
    let decoded = u64::from(columns) * u64::from(rows) * u64::from(segments);
    if (fragment.len() as u64).saturating_mul(64) < decoded {
        return Err(DicomError::Corrupt(format!(
            "its RLE frame of {} bytes cannot hold {columns}x{rows} pixels",
            fragment.len()
        )));
    }
    Ok(())
}

/// Checks a frame header against the tags: same size, same components,
/// no more bits than 16.
pub fn check(
    header: Option<FrameHeader>,
    codec: &str,
    columns: u32,
    rows: u32,
    samples_per_pixel: u32,
) -> Result<(), DicomError> {
    let header =
        header.ok_or_else(|| DicomError::Corrupt(format!("its {codec} frame has no readable frame header")))?;
    if header.width != columns || header.height != rows {
        return Err(DicomError::Corrupt(format!(
            "its {codec} frame is {}x{} pixels but the file says {columns}x{rows}",
            header.width, header.height
        )));
    }
    if header.components != samples_per_pixel {
        return Err(DicomError::Corrupt(format!(
            "its {codec} frame has {} components but the file says {samples_per_pixel} samples per pixel",
            header.components
        )));
    }
    if !(1..=16).contains(&header.precision) {
        return Err(DicomError::Corrupt(format!(
            "its {codec} frame has {}-bit samples",
            header.precision
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_baseline_sof_after_other_segments() {
        // SOI, APP0 (length 4), SOF0: 8-bit, 16 rows, 32 columns, 1 component.
        let stream = [
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x10, 0x00, 0x20, 0x01,
            0x01, 0x11, 0x00,
        ];
        assert_eq!(
            jpeg(&stream),
            Some(FrameHeader {
                width: 32,
                height: 16,
                components: 1,
                precision: 8
            })
        );
        assert!(check(jpeg(&stream), "JPEG", 32, 16, 1).is_ok());
        assert!(check(jpeg(&stream), "JPEG", 32, 16, 3).is_err());
        assert!(check(jpeg(&stream), "JPEG", 60000, 16, 1).is_err());
    }

    #[test]
    fn truncated_or_foreign_streams_have_no_header() {
        assert_eq!(jpeg(&[0xFF, 0xD8, 0xFF, 0xC0, 0x00]), None);
        assert_eq!(jpeg(b"not a jpeg"), None);
        assert_eq!(jpeg2000(&[0xFF, 0x4F, 0xFF, 0x51, 0, 41]), None);
        assert!(check(None, "JPEG", 1, 1, 1).is_err());
    }
}
