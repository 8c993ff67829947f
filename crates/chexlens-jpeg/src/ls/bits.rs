//! JPEG-LS's bit stream (ITU-T T.87 A.1): after an FF byte the next byte
//! carries 7 bits (its top bit is a stuffed 0); FF followed by a byte with
//! its top bit set is a marker, which ends the scan.

use super::JpegLsError;
use crate::dct::BitBuffer;

pub(super) struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    held: BitBuffer,
    after_ff: bool,
    at_marker: bool,
}

impl<'a> Bits<'a> {
    pub(super) fn new(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos,
            held: BitBuffer::default(),
            after_ff: false,
            at_marker: false,
        }
    }

    fn refill(&mut self) {
        while self.held.has_room() {
            if !self.at_marker {
                match self.data.get(self.pos) {
                    Some(&byte) if self.after_ff => {
                        self.held.push(byte, 7);
                        self.pos += 1;
                        self.after_ff = false;
                        continue;
                    }
                    Some(0xFF) if self.data.get(self.pos + 1).is_some_and(|&next| next < 0x80) => {
                        self.held.push(0xFF, 8);
                        self.pos += 1;
                        self.after_ff = true;
                        continue;
                    }
                    Some(0xFF) | None => self.at_marker = true,
                    Some(&byte) => {
                        self.held.push(byte, 8);
                        self.pos += 1;
                        continue;
                    }
                }
            }
            self.held.pad();
        }
    }

    pub(super) fn bit(&mut self) -> bool {
        self.read(1) == 1
    }

    /// `n` bits (n <= 32) as an unsigned number.
    pub(super) fn read(&mut self, n: u32) -> i32 {
        if n == 0 {
            return 0;
        }
        if self.held.len() < n {
            self.refill();
        }
        let value = self.held.peek(n) as i32;
        self.held.consume(n);
        value
    }

    /// The number of 0 bits before the next 1 (the unary part of a
    /// Golomb code), refused past `max`.
    pub(super) fn zeros(&mut self, max: i32) -> Result<i32, JpegLsError> {
        let too_long = || JpegLsError::Corrupt("a code is longer than the limit".into());
        let mut count = 0i32;
        loop {
            if self.held.len() < 32 {
                self.refill();
            }
            let run = self.held.leading_zeros();
            count += run as i32;
            if run < self.held.len() {
                self.held.consume(run + 1);
                return if count > max { Err(too_long()) } else { Ok(count) };
            }
            self.held.consume(run);
            if count > max {
                return Err(too_long());
            }
        }
    }

    pub(super) fn check_overrun(&self) -> Result<(), JpegLsError> {
        if self.held.overran() {
            return Err(JpegLsError::Truncated("the image data stops inside a scan"));
        }
        Ok(())
    }

    /// Where the scan's data ends.
    pub(super) fn end(&self) -> usize {
        self.pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_after_ff_carries_seven_bits() {
        // FF, then 0x7F: seven ones; then the marker FF D9.
        let data = [0xFF, 0x7F, 0xFF, 0xD9];
        let mut bits = Bits::new(&data, 0);
        assert_eq!(bits.read(15), 0x7FFF);
        bits.check_overrun().unwrap();
        assert_eq!(bits.read(1), 0);
        assert!(bits.check_overrun().is_err());
        assert_eq!(bits.end(), 2);
    }

    #[test]
    fn zeros_count_the_unary_prefix() {
        let data = [0b0001_0000, 0b0000_0001, 0xFF, 0xD9];
        let mut bits = Bits::new(&data, 0);
        assert_eq!(bits.zeros(30).unwrap(), 3);
        assert_eq!(bits.zeros(30).unwrap(), 11);
        let mut bits = Bits::new(&data, 0);
        assert!(bits.zeros(2).is_err());
    }
}
