//! Huffman tables and the bits of a Huffman-coded scan, with jdhuff.c's
//! answers to damaged data: zero bits past a marker, a bad code read as 0.
//! A file cut off inside a scan is refused, as Pillow refuses it.

use super::JpegError;
use super::damage::{Damage, DamageLog};
use super::stream::ScanStream;

const LOOKAHEAD: u32 = 9;

/// A decoding table built from a DHT segment's code lengths and values.
#[derive(Clone)]
pub(super) struct Huffman {
    /// Indexed by the next `LOOKAHEAD` bits: (code length, value); length
    /// 0 means a longer code.
    fast: Vec<(u8, u8)>,
    /// The largest code of each length (-1 when there is none).
    max_code: [i32; 17],
    /// Added to a code of each length to index `values`.
    value_offset: [i32; 17],
    values: Vec<u8>,
}

impl Huffman {
    /// `counts[l - 1]` codes of length `l`, then their values.
    pub(super) fn new(counts: &[u8; 16], values: &[u8]) -> Result<Self, JpegError> {
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        if total > 256 || total != values.len() {
            return Err(JpegError::Corrupt(
                "a Huffman table has an impossible code count".into(),
            ));
        }
        let mut fast = vec![(0u8, 0u8); 1 << LOOKAHEAD];
        let mut max_code = [-1i32; 17];
        let mut value_offset = [0i32; 17];
        let (mut code, mut k) = (0u32, 0usize);
        for length in 1..=16u32 {
            let count = counts[length as usize - 1] as usize;
            value_offset[length as usize] = k as i32 - code as i32;
            for _ in 0..count {
                // libjpeg's "bogus Huffman table" check: codes must fit their length.
                if code >= 1 << length {
                    return Err(JpegError::Corrupt(
                        "a Huffman table's codes overflow their lengths".into(),
                    ));
                }
                if length <= LOOKAHEAD {
                    let shift = LOOKAHEAD - length;
                    let first = (code << shift) as usize;
                    for entry in &mut fast[first..first + (1 << shift)] {
                        *entry = (length as u8, values[k]);
                    }
                }
                code += 1;
                k += 1;
            }
            if count > 0 {
                max_code[length as usize] = code as i32 - 1;
            }
            code <<= 1;
        }
        Ok(Self {
            fast,
            max_code,
            value_offset,
            values: values.to_vec(),
        })
    }
}

impl Huffman {
    pub(super) fn largest_value(&self) -> u8 {
        self.values.iter().copied().max().unwrap_or(0)
    }
}

/// The standard tables of ITU T.81 K.3, which libjpeg-turbo supplies when a
/// file omits its own (Motion-JPEG frames do).
pub(super) fn standard_table(class_ac: bool, index: usize) -> Huffman {
    const DC_LUMA_COUNTS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
    const DC_CHROMA_COUNTS: [u8; 16] = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
    const DC_VALUES: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    const AC_LUMA_COUNTS: [u8; 16] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d];
    const AC_LUMA_VALUES: [u8; 162] = [
        0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71,
        0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72,
        0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37,
        0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59,
        0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83,
        0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3,
        0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
        0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
        0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
    ];
    const AC_CHROMA_COUNTS: [u8; 16] = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
    const AC_CHROMA_VALUES: [u8; 162] = [
        0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13, 0x22,
        0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1,
        0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x35, 0x36,
        0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58,
        0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a,
        0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a,
        0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba,
        0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
        0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
    ];
    // libjpeg-turbo fills slot 0 with the luminance tables and 1 with the
    // chrominance ones; other slots stay empty.
    let table = match (class_ac, index) {
        (false, 0) => Huffman::new(&DC_LUMA_COUNTS, &DC_VALUES),
        (false, _) => Huffman::new(&DC_CHROMA_COUNTS, &DC_VALUES),
        (true, 0) => Huffman::new(&AC_LUMA_COUNTS, &AC_LUMA_VALUES),
        (true, _) => Huffman::new(&AC_CHROMA_COUNTS, &AC_CHROMA_VALUES),
    };
    table.expect("the standard tables are valid")
}

/// Bits waiting to be read, MSB first, and how many of them are zero
/// padding appended past the data: reading those means it was cut off.
/// Shared by the JPEG and JPEG-LS readers, which differ in byte stuffing.
#[derive(Default)]
pub(crate) struct BitBuffer {
    buffer: u64,
    bits: u32,
    padded: u32,
}

impl BitBuffer {
    /// Whether another byte fits.
    pub(crate) fn has_room(&self) -> bool {
        self.bits <= 56
    }

    /// Appends the low `width` (7 or 8) bits of `value`.
    pub(crate) fn push(&mut self, value: u8, width: u32) {
        self.buffer |= (value as u64 & ((1 << width) - 1)) << (64 - self.bits - width);
        self.bits += width;
    }

    /// Appends a byte of zero padding.
    pub(crate) fn pad(&mut self) {
        self.bits += 8;
        self.padded += 8;
    }

    pub(crate) fn len(&self) -> u32 {
        self.bits
    }

    /// The next `n` bits (1 to 32) without consuming them.
    pub(crate) fn peek(&self, n: u32) -> u32 {
        (self.buffer >> (64 - n)) as u32
    }

    /// Zero bits before the next 1 among those held.
    pub(crate) fn leading_zeros(&self) -> u32 {
        self.buffer.leading_zeros().min(self.bits)
    }

    pub(crate) fn consume(&mut self, n: u32) {
        self.buffer = if n >= 64 { 0 } else { self.buffer << n };
        self.bits -= n;
    }

    pub(crate) fn overran(&self) -> bool {
        self.padded > self.bits
    }

    /// Padding bits still held.
    pub(crate) fn padding(&self) -> u32 {
        self.padded.min(self.bits)
    }

    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }
}

/// The bits of one Huffman-coded scan, read as jdhuff.c reads them: past
/// a marker they are zeros, and the first symbol that needs one marks the
/// segment as out of data (libjpeg's `insufficient_data`).
pub(super) struct BitReader<'a> {
    pub stream: ScanStream<'a>,
    held: BitBuffer,
    /// The segment ran out of data: its remaining MCUs are left as they are.
    pub insufficient: bool,
}

impl<'a> BitReader<'a> {
    pub(super) fn new(data: &'a [u8], pos: usize) -> Self {
        Self {
            stream: ScanStream::new(data, pos),
            held: BitBuffer::default(),
            insufficient: false,
        }
    }

    fn refill(&mut self) {
        while self.held.has_room() {
            match self.stream.byte() {
                Some(byte) => self.held.push(byte, 8),
                None => self.held.pad(),
            }
        }
    }

    /// `n` bits (n <= 16) as an unsigned number.
    pub(super) fn bits(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        if self.held.len() < n {
            self.refill();
        }
        let value = self.held.peek(n);
        self.held.consume(n);
        value
    }

    pub(super) fn bit(&mut self) -> bool {
        self.bits(1) == 1
    }

    /// `n` bits read as a JPEG signed magnitude (F.2.2.1's EXTEND).
    pub(super) fn signed(&mut self, n: u32) -> i32 {
        if n == 0 {
            return 0;
        }
        let value = self.bits(n) as i32;
        if value < 1 << (n - 1) {
            value - (1 << n) + 1
        } else {
            value
        }
    }

    /// One symbol. A code the table lacks takes 17 bits and decodes as 0,
    /// as jpeg_huff_decode does ("fake a zero as the safest result").
    pub(super) fn decode(&mut self, table: &Huffman, log: &mut DamageLog) -> Result<u8, JpegError> {
        if self.held.len() < 17 {
            self.refill();
        }
        let (length, value) = table.fast[self.held.peek(LOOKAHEAD) as usize];
        if length > 0 {
            self.held.consume(length as u32);
            return Ok(value);
        }
        for length in LOOKAHEAD + 1..=16 {
            let code = self.held.peek(length) as i32;
            if code <= table.max_code[length as usize] {
                self.held.consume(length);
                let index = code + table.value_offset[length as usize];
                return table
                    .values
                    .get(index as usize)
                    .copied()
                    .ok_or_else(|| JpegError::Corrupt("a Huffman code has no value".into()));
            }
        }
        self.held.consume(17);
        log.note(Damage::BadHuffmanCode);
        Ok(0)
    }

    /// After each MCU: bits read from past a marker mark the segment as
    /// out of data (warned once per segment); past the end of the file,
    /// the file was cut off.
    pub(super) fn check_data(&mut self, log: &mut DamageLog) -> Result<(), JpegError> {
        if self.held.overran() {
            self.stream.check_not_cut()?;
            if !self.insufficient {
                log.note(Damage::PrematureEnd);
                self.insufficient = true;
            }
        }
        Ok(())
    }

    /// Whole bytes held but unused, as libjpeg counts them when it drops its bits.
    fn unused_bytes(&self) -> usize {
        (self.held.len().saturating_sub(self.held.padding()) / 8) as usize
    }

    /// Drops the bits held and reads restart marker `n` (process_restart):
    /// the segment after it has data again unless the marker was left unread.
    pub(super) fn restart(&mut self, n: u8, log: &mut DamageLog) -> Result<(), JpegError> {
        self.stream.discard(self.unused_bytes());
        self.held.clear();
        self.stream.restart(n, log)?;
        if !self.stream.at_marker() {
            self.insufficient = false;
        }
        Ok(())
    }

    /// Where the file's markers go on after the scan, and the bytes held unused.
    pub(super) fn end(&mut self) -> (usize, usize) {
        self.stream.discard(self.unused_bytes());
        (self.stream.resume_at(), self.stream.unused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stuffed_bytes_and_pads_past_markers() {
        let data = [0b1010_0000, 0xFF, 0x00, 0xFF, 0xD9];
        let mut log = DamageLog::default();
        let mut reader = BitReader::new(&data, 0);
        assert_eq!(reader.bits(3), 0b101);
        assert_eq!(reader.bits(5), 0);
        assert_eq!(reader.bits(8), 0xFF);
        reader.check_data(&mut log).unwrap();
        assert!(!reader.insufficient);
        assert_eq!(reader.bits(1), 0);
        reader.check_data(&mut log).unwrap();
        assert!(reader.insufficient);
        assert_eq!(log.to_string(), "premature end of data segment");
        assert_eq!(reader.end(), (3, 0));
    }

    #[test]
    fn a_cut_file_is_refused() {
        let mut reader = BitReader::new(&[0b1010_0000], 0);
        reader.bits(9);
        assert!(reader.check_data(&mut DamageLog::default()).is_err());
    }

    #[test]
    fn signed_magnitudes_extend() {
        let data = [0b0111_0000, 0, 0xFF, 0xD9];
        let mut reader = BitReader::new(&data, 0);
        assert_eq!(reader.signed(1), -1);
        assert_eq!(reader.signed(3), 7);
    }

    #[test]
    fn decodes_the_standard_luminance_dc_table_and_fakes_zero_for_bad_codes() {
        // Category 0 is "00", category 5 is "110"; nine 1s are no code.
        let table = standard_table(false, 0);
        let data = [0b0011_0111, 0xFF, 0x00, 0b1111_1100, 0xFF, 0xD9];
        let mut log = DamageLog::default();
        let mut reader = BitReader::new(&data, 0);
        assert_eq!(reader.decode(&table, &mut log).unwrap(), 0);
        assert_eq!(reader.decode(&table, &mut log).unwrap(), 5);
        assert_eq!(reader.decode(&table, &mut log).unwrap(), 0);
        assert_eq!(log.to_string(), "bad Huffman code");
        // The bad code took 17 bits: 3 of the first byte, 8, 6.
        assert_eq!(reader.bits(2), 0);
    }

    #[test]
    fn overflowing_tables_are_refused() {
        let mut counts = [0u8; 16];
        counts[0] = 3; // three codes of one bit
        assert!(Huffman::new(&counts, &[1, 2, 3]).is_err());
    }
}
