//! JPEG-LS's bit stream (ITU-T T.87 A.1): after an FF byte the next byte
//! carries 7 bits (its top bit is a stuffed 0); FF followed by a byte with
//! its top bit set is a marker, which ends the scan.

use super::JpegLsError;

pub(super) struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    buffer: u64,
    bits: u32,
    /// Zero bits appended past the data; reading them means the scan was cut.
    padded: u32,
    after_ff: bool,
    at_marker: bool,
}

impl<'a> Bits<'a> {
    pub(super) fn new(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos,
            buffer: 0,
            bits: 0,
            padded: 0,
            after_ff: false,
            at_marker: false,
        }
    }

    fn refill(&mut self) {
        while self.bits <= 56 {
            if !self.at_marker {
                match self.data.get(self.pos) {
                    Some(&byte) if self.after_ff => {
                        self.buffer |= ((byte & 0x7F) as u64) << (57 - self.bits);
                        self.bits += 7;
                        self.pos += 1;
                        self.after_ff = false;
                        continue;
                    }
                    Some(0xFF) if self.data.get(self.pos + 1).is_some_and(|&next| next < 0x80) => {
                        self.buffer |= 0xFF << (56 - self.bits);
                        self.bits += 8;
                        self.pos += 1;
                        self.after_ff = true;
                        continue;
                    }
                    Some(0xFF) | None => self.at_marker = true,
                    Some(&byte) => {
                        self.buffer |= (byte as u64) << (56 - self.bits);
                        self.bits += 8;
                        self.pos += 1;
                        continue;
                    }
                }
            }
            self.bits += 8;
            self.padded += 8;
        }
    }

    fn consume(&mut self, n: u32) {
        self.buffer = if n >= 64 { 0 } else { self.buffer << n };
        self.bits -= n;
    }

    pub(super) fn bit(&mut self) -> bool {
        self.read(1) == 1
    }

    /// `n` bits (n <= 32) as an unsigned number.
    pub(super) fn read(&mut self, n: u32) -> i32 {
        if n == 0 {
            return 0;
        }
        if self.bits < n {
            self.refill();
        }
        let value = (self.buffer >> (64 - n)) as i32;
        self.consume(n);
        value
    }

    /// The number of 0 bits before the next 1 (the unary part of a
    /// Golomb code), refused past `max`.
    pub(super) fn zeros(&mut self, max: i32) -> Result<i32, JpegLsError> {
        let mut count = 0i32;
        loop {
            if self.bits < 32 {
                self.refill();
            }
            let run = self.buffer.leading_zeros().min(self.bits);
            if run < self.bits {
                count += run as i32;
                self.consume(run + 1);
                return if count > max {
                    Err(JpegLsError::Corrupt("a code is longer than the limit".into()))
                } else {
                    Ok(count)
                };
            }
            count += run as i32;
            self.consume(run);
            if count > max {
                return Err(JpegLsError::Corrupt("a code is longer than the limit".into()));
            }
        }
    }

    pub(super) fn check_overrun(&self) -> Result<(), JpegLsError> {
        if self.padded > self.bits {
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
