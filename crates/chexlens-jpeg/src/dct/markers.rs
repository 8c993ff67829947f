//! The marker segments around a JPEG's scans: frame and scan headers,
//! quantisation and Huffman tables, restart interval, and the JFIF and
//! Adobe markers that say how colour is coded. Every length is checked
//! against the bytes that are there.

use super::JpegError;
use super::entropy::Huffman;

/// Zig-zag position to natural (row-major) position, with libjpeg's 16
/// extra entries so that a corrupt run past the end lands on the last
/// coefficient instead of out of bounds.
pub(super) const NATURAL: [usize; 80] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
    28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54,
    47, 55, 62, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
];

#[derive(Debug, Clone, PartialEq)]
pub(super) struct ComponentSpec {
    pub id: u8,
    pub h: usize,
    pub v: usize,
    pub quant: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct FrameHeader {
    pub progressive: bool,
    pub arithmetic: bool,
    pub precision: u8,
    pub width: u32,
    pub height: u32,
    pub components: Vec<ComponentSpec>,
}

/// An SOF0 (baseline), SOF1 (extended) or SOF2 (progressive) header, or
/// SOF9/SOF10 (extended and progressive, arithmetic coded).
pub(super) fn frame(marker: u8, body: &[u8]) -> Result<FrameHeader, JpegError> {
    let short = || JpegError::Corrupt("the frame header is too short".into());
    let &[precision, h0, h1, w0, w1, count, ..] = body else {
        return Err(short());
    };
    let height = u16::from_be_bytes([h0, h1]) as u32;
    let width = u16::from_be_bytes([w0, w1]) as u32;
    if precision != 8 && precision != 12 {
        return Err(JpegError::Unsupported(format!("{precision}-bit")));
    }
    if height == 0 {
        return Err(JpegError::Unsupported("height-in-DNL-marker".into()));
    }
    if width == 0 {
        return Err(JpegError::Corrupt("the image has zero width".into()));
    }
    let specs = body.get(6..6 + 3 * count as usize).ok_or_else(short)?;
    match count {
        1 | 3 => {}
        4 => return Err(JpegError::Unsupported("CMYK".into())),
        n => return Err(JpegError::Unsupported(format!("{n}-component"))),
    }
    let components: Vec<ComponentSpec> = specs
        .chunks_exact(3)
        .map(|c| ComponentSpec {
            id: c[0],
            h: (c[1] >> 4) as usize,
            v: (c[1] & 15) as usize,
            quant: c[2] as usize,
        })
        .collect();
    for (i, c) in components.iter().enumerate() {
        if !(1..=4).contains(&c.h) || !(1..=4).contains(&c.v) || c.quant > 3 {
            return Err(JpegError::Corrupt(
                "a component has invalid sampling factors or table".into(),
            ));
        }
        if components[..i].iter().any(|other| other.id == c.id) {
            return Err(JpegError::Corrupt("two components share an identifier".into()));
        }
    }
    Ok(FrameHeader {
        progressive: matches!(marker, 0xC2 | 0xCA),
        arithmetic: matches!(marker, 0xC9 | 0xCA),
        precision,
        width,
        height,
        components,
    })
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct ScanComponent {
    /// Index into the frame's components.
    pub index: usize,
    pub dc_table: usize,
    pub ac_table: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct ScanHeader {
    pub components: Vec<ScanComponent>,
    pub ss: usize,
    pub se: usize,
    pub ah: u32,
    pub al: u32,
}

/// An SOS header, checked against the frame's component identifiers
/// (arithmetic coding has 16 conditioning tables, Huffman 4 tables).
pub(super) fn scan(
    body: &[u8],
    component_ids: &[u8],
    progressive: bool,
    arithmetic: bool,
) -> Result<ScanHeader, JpegError> {
    let corrupt = |what: &str| JpegError::Corrupt(format!("the scan header {what}"));
    let count = *body.first().ok_or_else(|| corrupt("is empty"))? as usize;
    if !(1..=4).contains(&count) || body.len() < 1 + 2 * count + 3 {
        return Err(corrupt("is malformed"));
    }
    let mut components = Vec::with_capacity(count);
    for spec in body[1..1 + 2 * count].chunks_exact(2) {
        let index = component_ids
            .iter()
            .position(|&id| id == spec[0])
            .ok_or_else(|| corrupt("names a component the frame lacks"))?;
        if components.iter().any(|c: &ScanComponent| c.index == index) {
            return Err(corrupt("names a component twice"));
        }
        let (dc_table, ac_table) = ((spec[1] >> 4) as usize, (spec[1] & 15) as usize);
        if !arithmetic && (dc_table > 3 || ac_table > 3) {
            return Err(corrupt("names a Huffman table above 3"));
        }
        components.push(ScanComponent {
            index,
            dc_table,
            ac_table,
        });
    }
    let tail = &body[1 + 2 * count..];
    let (ss, se, ah, al) = (
        tail[0] as usize,
        tail[1] as usize,
        (tail[2] >> 4) as u32,
        (tail[2] & 15) as u32,
    );
    if progressive {
        // jdinput.c's checks on the progression parameters.
        let bad = if ss == 0 {
            se != 0
        } else {
            se < ss || se > 63 || count != 1
        };
        if bad || (ah != 0 && al != ah - 1) || al > 13 {
            return Err(corrupt("has invalid progression parameters"));
        }
        Ok(ScanHeader {
            components,
            ss,
            se,
            ah,
            al,
        })
    } else {
        // Sequential scans cover every coefficient whatever they say, as in libjpeg.
        Ok(ScanHeader {
            components,
            ss: 0,
            se: 63,
            ah: 0,
            al: 0,
        })
    }
}

/// The arithmetic conditioning a DAC segment sets per table (F.1.4.4.1.2's
/// L and U for DC, Kx for AC), with T.81's defaults.
#[derive(Clone, Copy)]
pub(super) struct Conditioning {
    pub dc_lower: [u8; 16],
    pub dc_upper: [u8; 16],
    pub ac_split: [u8; 16],
}

impl Default for Conditioning {
    fn default() -> Self {
        Self {
            dc_lower: [0; 16],
            dc_upper: [1; 16],
            ac_split: [5; 16],
        }
    }
}

impl Conditioning {
    /// A DAC segment: (class and table, value) pairs.
    pub(super) fn read(&mut self, body: &[u8]) -> Result<(), JpegError> {
        if !body.len().is_multiple_of(2) {
            return Err(JpegError::Corrupt(
                "an arithmetic conditioning segment is malformed".into(),
            ));
        }
        for pair in body.chunks_exact(2) {
            let (index, value) = (pair[0] as usize, pair[1]);
            match index {
                0..=15 => {
                    let (lower, upper) = (value & 15, value >> 4);
                    if lower > upper {
                        return Err(JpegError::Corrupt(format!(
                            "an arithmetic DC conditioning has L {lower} above U {upper}"
                        )));
                    }
                    self.dc_lower[index] = lower;
                    self.dc_upper[index] = upper;
                }
                16..=31 => self.ac_split[index - 16] = value,
                _ => {
                    return Err(JpegError::Corrupt(
                        "an arithmetic conditioning names a table above 15".into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The tables a scan may use, as defined so far.
#[derive(Default, Clone)]
pub(super) struct Tables {
    pub quant: [Option<[u16; 64]>; 4],
    pub dc: [Option<Huffman>; 4],
    pub ac: [Option<Huffman>; 4],
    pub restart_interval: usize,
    pub conditioning: Conditioning,
    pub jfif: bool,
    pub adobe_transform: Option<u8>,
}

impl Tables {
    /// A DQT segment: one or more tables, 8- or 16-bit entries in zig-zag order.
    pub(super) fn read_quant(&mut self, mut body: &[u8]) -> Result<(), JpegError> {
        while let Some(&head) = body.first() {
            let (wide, id) = (head >> 4, (head & 15) as usize);
            let size = if wide == 0 { 64 } else { 128 };
            if wide > 1 || id > 3 {
                return Err(JpegError::Corrupt("a quantisation table is malformed".into()));
            }
            let entries = body
                .get(1..1 + size)
                .ok_or_else(|| JpegError::Corrupt("a quantisation table is cut off".into()))?;
            let mut table = [0u16; 64];
            for (k, &natural) in NATURAL[..64].iter().enumerate() {
                table[natural] = if wide == 0 {
                    entries[k] as u16
                } else {
                    u16::from_be_bytes([entries[2 * k], entries[2 * k + 1]])
                };
            }
            self.quant[id] = Some(table);
            body = &body[1 + size..];
        }
        Ok(())
    }

    /// A DHT segment: one or more tables.
    pub(super) fn read_huffman(&mut self, mut body: &[u8]) -> Result<(), JpegError> {
        let cut_off = || JpegError::Corrupt("a Huffman table is cut off".into());
        while let Some(&head) = body.first() {
            let (class, id) = (head >> 4, (head & 15) as usize);
            if class > 1 || id > 3 {
                return Err(JpegError::Corrupt("a Huffman table is malformed".into()));
            }
            let counts: [u8; 16] = body.get(1..17).ok_or_else(cut_off)?.try_into().expect("16 bytes");
            let total: usize = counts.iter().map(|&c| c as usize).sum();
            let values = body.get(17..17 + total).ok_or_else(cut_off)?;
            let table = Huffman::new(&counts, values)?;
            if class == 0 {
                self.dc[id] = Some(table);
            } else {
                self.ac[id] = Some(table);
            }
            body = &body[17 + total..];
        }
        Ok(())
    }

    pub(super) fn read_restart_interval(&mut self, body: &[u8]) -> Result<(), JpegError> {
        let &[a, b, ..] = body else {
            return Err(JpegError::Corrupt("the restart interval is cut off".into()));
        };
        self.restart_interval = u16::from_be_bytes([a, b]) as usize;
        Ok(())
    }

    /// APP0 and APP14: the markers libjpeg reads to choose the colour space.
    pub(super) fn read_app(&mut self, marker: u8, body: &[u8]) {
        if marker == 0xE0 && body.starts_with(b"JFIF\0") {
            self.jfif = true;
        } else if marker == 0xEE && body.len() >= 12 && body.starts_with(b"Adobe") {
            self.adobe_transform = Some(body[11]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_name_what_they_cannot_be() {
        let cmyk = [8, 0, 4, 0, 4, 4, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0, 4, 0x11, 0];
        assert_eq!(frame(0xC0, &cmyk).unwrap_err(), JpegError::Unsupported("CMYK".into()));
        assert_eq!(
            frame(0xC0, &[16, 0, 4, 0, 4, 1, 1, 0x11, 0]).unwrap_err(),
            JpegError::Unsupported("16-bit".into())
        );
        let grey = frame(0xC2, &[8, 0, 3, 0, 5, 1, 7, 0x22, 1]).unwrap();
        assert!(grey.progressive);
        assert_eq!((grey.width, grey.height), (5, 3));
        assert_eq!(
            grey.components[0],
            ComponentSpec {
                id: 7,
                h: 2,
                v: 2,
                quant: 1
            }
        );
    }

    #[test]
    fn quant_tables_are_stored_in_natural_order() {
        let mut body = vec![0x01];
        body.extend(0..64u8);
        let mut tables = Tables::default();
        tables.read_quant(&body).unwrap();
        let table = tables.quant[1].unwrap();
        assert_eq!((table[0], table[1], table[8], table[63]), (0, 1, 2, 63));
        assert!(tables.read_quant(&body[..30]).is_err());
    }
}
