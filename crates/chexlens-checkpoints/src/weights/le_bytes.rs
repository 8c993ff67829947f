//! Little-endian reads over a byte slice that fail, rather than panic, past
//! its end: what the zip reader and the pickle machine both walk with.

use super::WeightErrorKind;

pub(crate) struct LeBytes<'a> {
    bytes: &'a [u8],
    pub(crate) pos: usize,
    /// The error for a read past the end, given where it was tried.
    past_end: fn(usize) -> WeightErrorKind,
}

impl<'a> LeBytes<'a> {
    pub(crate) fn at(bytes: &'a [u8], pos: usize, past_end: fn(usize) -> WeightErrorKind) -> Self {
        Self { bytes, pos, past_end }
    }

    pub(crate) fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Bytes left after the position.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], WeightErrorKind> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| (self.past_end)(self.pos))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), WeightErrorKind> {
        self.take(n).map(|_| ())
    }

    pub(crate) fn u8(&mut self) -> Result<u8, WeightErrorKind> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, WeightErrorKind> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, WeightErrorKind> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, WeightErrorKind> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WeightErrorKind> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
}
