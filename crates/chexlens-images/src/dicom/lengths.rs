//! Every element length in a DICOM file checked against the bytes that
//! follow it, before dicom-rs reads the file: its parser reserves and zeroes
//! a buffer of whatever length an element declares, so a 400-byte file that
//! claims a 4 GB element would cost 4 GB. Sequences and items are walked
//! (to a fixed depth), encapsulated pixel data fragment by fragment, and a
//! deflated data set is inflated here first, up to a fixed size.

use super::DicomError;
use std::io::Read;

/// Sequences nested deeper than this are refused.
const MAX_DEPTH: usize = 32;
/// A deflated data set may inflate to this much at most.
pub const MAX_INFLATED_BYTES: u64 = 256 << 20;
const UNDEFINED: u32 = 0xFFFF_FFFF;
const ITEM: u32 = 0xFFFE_E000;
const ITEM_END: u32 = 0xFFFE_E00D;
const SEQUENCE_END: u32 = 0xFFFE_E0DD;
const PIXEL_DATA: u32 = 0x7FE0_0010;
/// VRs with a 2-byte length (PS3.5 7.1.2). Every other VR, and an unknown
/// one (which dicom-rs reads as UN), has 2 reserved bytes and a 4-byte length.
const SHORT_VRS: [&[u8]; 21] = [
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"PN", b"SH", b"SL", b"SS",
    b"ST", b"TM", b"UI", b"UL", b"US",
];

/// How a data set's elements are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    ExplicitLittle,
    ImplicitLittle,
    ExplicitBig,
}

impl Encoding {
    pub fn of(transfer_syntax: &str) -> Self {
        match transfer_syntax {
            "1.2.840.10008.1.2" => Self::ImplicitLittle,
            "1.2.840.10008.1.2.2" => Self::ExplicitBig,
            _ => Self::ExplicitLittle,
        }
    }
}

fn corrupt(detail: String) -> DicomError {
    DicomError::Corrupt(detail)
}

struct Walker<'a> {
    bytes: &'a [u8],
    encoding: Encoding,
}

/// One element's header: tag, length, whether its VR is SQ, header size.
struct Header {
    tag: u32,
    length: u32,
    sequence: bool,
    size: usize,
}

impl<'a> Walker<'a> {
    fn u16(&self, at: usize) -> Option<u16> {
        let b = self.bytes.get(at..at + 2)?;
        Some(match self.encoding {
            Encoding::ExplicitBig => u16::from_be_bytes([b[0], b[1]]),
            _ => u16::from_le_bytes([b[0], b[1]]),
        })
    }

    fn u32(&self, at: usize) -> Option<u32> {
        let b = self.bytes.get(at..at + 4)?;
        Some(match self.encoding {
            Encoding::ExplicitBig => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            _ => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        })
    }

    fn header(&self, at: usize) -> Option<Header> {
        let tag = (u32::from(self.u16(at)?) << 16) | u32::from(self.u16(at + 2)?);
        // Items and delimiters carry no VR in any encoding.
        if tag >> 16 == 0xFFFE || self.encoding == Encoding::ImplicitLittle {
            return Some(Header {
                tag,
                length: self.u32(at + 4)?,
                sequence: false,
                size: 8,
            });
        }
        let vr = self.bytes.get(at + 4..at + 6)?;
        Some(if !SHORT_VRS.contains(&vr) {
            Header {
                tag,
                length: self.u32(at + 8)?,
                sequence: vr == b"SQ",
                size: 12,
            }
        } else {
            Header {
                tag,
                length: u32::from(self.u16(at + 6)?),
                sequence: false,
                size: 8,
            }
        })
    }

    /// Elements from `at` up to `end`, or up to `closing` when the
    /// container has an undefined length. Returns where they stop.
    fn elements(&self, mut at: usize, end: usize, closing: Option<u32>, depth: usize) -> Result<usize, DicomError> {
        if depth > MAX_DEPTH {
            return Err(corrupt(format!("its sequences nest deeper than {MAX_DEPTH} levels")));
        }
        while at < end {
            let Some(h) = self.header(at).filter(|h| at + h.size <= end) else {
                return match closing {
                    // Trailing bytes too short for an element: dicom-rs stops there too.
                    None => Ok(end),
                    Some(_) => Err(corrupt("a sequence runs past the end of the file".into())),
                };
            };
            let body = at + h.size;
            if Some(h.tag) == closing {
                return Ok(body);
            }
            at = if h.length == UNDEFINED {
                if h.tag == PIXEL_DATA {
                    self.fragments(body, end)?
                } else {
                    self.items(body, end, depth + 1, true)?
                }
            } else {
                let value_end = body
                    .checked_add(h.length as usize)
                    .filter(|&e| e <= end)
                    .ok_or_else(|| {
                        corrupt(format!(
                            "element ({:04X},{:04X}) claims {} bytes where {} remain",
                            h.tag >> 16,
                            h.tag & 0xFFFF,
                            h.length,
                            end - body
                        ))
                    })?;
                let starts_with_item = self.u16(body) == Some(0xFFFE) && self.u16(body + 2) == Some(0xE000);
                if h.sequence || (self.encoding == Encoding::ImplicitLittle && starts_with_item && h.tag != PIXEL_DATA)
                {
                    self.items(body, value_end, depth + 1, false)?;
                }
                value_end
            };
        }
        match closing {
            Some(_) => Err(corrupt("a sequence item has no end marker".into())),
            None => Ok(end),
        }
    }

    /// Sequence items up to `end`, or up to the sequence delimiter that an
    /// `undefined`-length sequence must end with.
    fn items(&self, mut at: usize, end: usize, depth: usize, undefined: bool) -> Result<usize, DicomError> {
        while at < end {
            let h = self
                .header(at)
                .filter(|h| at + h.size <= end)
                .ok_or_else(|| corrupt("a sequence item runs past the end of the file".into()))?;
            let body = at + h.size;
            match h.tag {
                SEQUENCE_END => return Ok(body),
                ITEM if h.length == UNDEFINED => at = self.elements(body, end, Some(ITEM_END), depth)?,
                ITEM => {
                    let item_end = body
                        .checked_add(h.length as usize)
                        .filter(|&e| e <= end)
                        .ok_or_else(|| corrupt(format!("a sequence item claims {} bytes", h.length)))?;
                    self.elements(body, item_end, None, depth)?;
                    at = item_end;
                }
                _ => return Err(corrupt("a sequence holds something that is not an item".into())),
            }
        }
        if undefined {
            return Err(corrupt("a sequence has no end marker".into()));
        }
        Ok(end)
    }

    /// Encapsulated pixel data: fragments up to the sequence delimiter.
    fn fragments(&self, mut at: usize, end: usize) -> Result<usize, DicomError> {
        loop {
            let h = self
                .header(at)
                .filter(|h| at + h.size <= end)
                .ok_or_else(|| corrupt("its pixel data stops before its end marker".into()))?;
            let body = at + h.size;
            match h.tag {
                SEQUENCE_END => return Ok(body),
                ITEM => {
                    at = body
                        .checked_add(h.length as usize)
                        .filter(|&e| e <= end)
                        .ok_or_else(|| corrupt(format!("a pixel data fragment claims {} bytes", h.length)))?;
                }
                _ => return Err(corrupt("its pixel data holds something that is not a fragment".into())),
            }
        }
    }
}

/// Checks the file meta group (always explicit VR little endian) from
/// `start` (just after `DICM`) and returns where the data set begins.
pub fn check_meta(bytes: &[u8], start: usize) -> Result<usize, DicomError> {
    let walker = Walker {
        bytes,
        encoding: Encoding::ExplicitLittle,
    };
    let mut at = start;
    // dicom-rs reads the group as far as its length (0002,0000) says,
    // whatever tags lie within, so every element there is checked too.
    let group_end = match walker.header(start) {
        Some(h) if h.tag == 0x0002_0000 && h.length == 4 => walker
            .u32(start + h.size)
            .map_or(start, |length| (start + h.size + 4).saturating_add(length as usize)),
        _ => start,
    };
    while let Some(h) = walker.header(at).filter(|h| h.tag >> 16 == 0x0002 || at < group_end) {
        at = (at + h.size)
            .checked_add(h.length as usize)
            .filter(|&e| e <= bytes.len() && h.length != UNDEFINED)
            .ok_or_else(|| corrupt("its file meta information claims more bytes than the file holds".into()))?;
    }
    Ok(at)
}

/// Checks every element of the data set in `bytes[start..]`.
pub fn check_data_set(bytes: &[u8], start: usize, encoding: Encoding) -> Result<(), DicomError> {
    Walker { bytes, encoding }
        .elements(start, bytes.len(), None, 0)
        .map(|_| ())
}

/// Inflates a deflated data set (raw deflate), refusing one that grows past
/// [`MAX_INFLATED_BYTES`].
pub fn inflate(deflated: &[u8]) -> Result<Vec<u8>, DicomError> {
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(deflated)
        .take(MAX_INFLATED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| corrupt(format!("its deflated data set cannot be inflated ({e})")))?;
    if out.len() as u64 > MAX_INFLATED_BYTES {
        return Err(corrupt(format!(
            "its deflated data set inflates to more than {} MB",
            MAX_INFLATED_BYTES >> 20
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explicit(tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(tag.0.to_le_bytes());
        out.extend(tag.1.to_le_bytes());
        out.extend(vr);
        out.extend((value.len() as u16).to_le_bytes());
        out.extend(value);
        out
    }

    #[test]
    fn accepts_lengths_that_fit_and_refuses_one_that_does_not() {
        let mut data = explicit((0x0028, 0x0010), b"US", &16u16.to_le_bytes());
        assert!(check_data_set(&data, 0, Encoding::ExplicitLittle).is_ok());
        // Pixel Data OW claiming 4 GB with 4 bytes behind it.
        data.extend([0xE0, 0x7F, 0x10, 0x00]);
        data.extend(b"OW\0\0");
        data.extend(0xFFFF_FFF0u32.to_le_bytes());
        data.extend([0, 0, 0, 0]);
        let err = check_data_set(&data, 0, Encoding::ExplicitLittle).unwrap_err();
        assert!(err.to_string().contains("claims 4294967280 bytes"), "{err}");
    }

    #[test]
    fn nested_sequences_are_walked_and_capped() {
        // An undefined-length SQ holding an undefined-length item, 40 deep.
        let open: Vec<u8> = [
            &[0x08, 0x00, 0x15, 0x11][..],
            b"SQ\0\0",
            &UNDEFINED.to_le_bytes(),
            &[0xFE, 0xFF, 0x00, 0xE0],
            &UNDEFINED.to_le_bytes(),
        ]
        .concat();
        let close: Vec<u8> = [
            &[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0][..],
            &[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0],
        ]
        .concat();
        let nest = |n: usize| [open.repeat(n), close.repeat(n)].concat();
        assert!(check_data_set(&nest(4), 0, Encoding::ExplicitLittle).is_ok());
        assert!(check_data_set(&nest(40), 0, Encoding::ExplicitLittle).is_err());
        let cut = nest(4);
        assert!(check_data_set(&cut[..cut.len() - 8], 0, Encoding::ExplicitLittle).is_err());
    }

    #[test]
    fn a_deflate_bomb_stops_at_the_cap() {
        use std::io::Write;
        let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..(MAX_INFLATED_BYTES >> 20) + 1 {
            encoder.write_all(&zeros).unwrap();
        }
        let bomb = encoder.finish().unwrap();
        assert!(bomb.len() < 1 << 20);
        assert!(
            inflate(&bomb)
                .unwrap_err()
                .to_string()
                .contains("inflates to more than")
        );
    }
}
