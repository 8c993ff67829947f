//! What a damaged file's entropy data did to its decoding: the kinds of
//! damage libjpeg-turbo warns about ("Corrupt JPEG data: ...") and keeps
//! decoding through, each kept once with a count so that a file full of
//! bad codes costs a few bytes.

use std::fmt;

/// One kind of damage, worded as libjpeg-turbo's warning (jerror.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// A marker (or the end of the data) came before a scan's last MCU;
    /// the rest of the segment is decoded from zero bits, then left at
    /// zero (mid-grey for a first scan).
    PrematureEnd,
    /// A Huffman code its table lacks; decoded as the symbol 0.
    BadHuffmanCode,
    /// An arithmetic-coded value out of range; the rest of the segment is left at zero.
    BadArithmeticCode,
    /// A different marker where restart marker `expected` belonged.
    WrongRestart { found: u8, expected: u8 },
    /// Bytes that belong to nothing before a marker.
    Extraneous { bytes: usize, marker: u8 },
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::PrematureEnd => write!(f, "Corrupt JPEG data: premature end of data segment"),
            Damage::BadHuffmanCode => write!(f, "Corrupt JPEG data: bad Huffman code"),
            Damage::BadArithmeticCode => write!(f, "Corrupt JPEG data: bad arithmetic code"),
            Damage::WrongRestart { found, expected } => {
                write!(
                    f,
                    "Corrupt JPEG data: found marker 0x{found:02x} instead of RST{expected}"
                )
            }
            Damage::Extraneous { bytes, marker } => {
                write!(
                    f,
                    "Corrupt JPEG data: {bytes} extraneous bytes before marker 0x{marker:02x}"
                )
            }
        }
    }
}

impl Damage {
    /// Whether two records are the same kind (counts and markers aside).
    fn same_kind(&self, other: &Damage) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

/// A damage kind as first seen, and how often it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DamageRecord {
    pub first: Damage,
    pub count: u64,
}

/// The damage found while decoding, in the order each kind first appeared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DamageLog {
    records: Vec<DamageRecord>,
}

impl DamageLog {
    pub(crate) fn note(&mut self, damage: Damage) {
        match self.records.iter_mut().find(|r| r.first.same_kind(&damage)) {
            Some(record) => record.count += 1,
            None => self.records.push(DamageRecord {
                first: damage,
                count: 1,
            }),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn records(&self) -> &[DamageRecord] {
        &self.records
    }
}

impl fmt::Display for DamageLog {
    /// "premature end of data segment; bad Huffman code (12 times)".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, record) in self.records.iter().enumerate() {
            let text = record.first.to_string();
            let text = text.trim_start_matches("Corrupt JPEG data: ");
            if i > 0 {
                write!(f, "; ")?;
            }
            match record.count {
                1 => write!(f, "{text}")?,
                n => write!(f, "{text} ({n} times)")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_kept_once_with_counts() {
        let mut log = DamageLog::default();
        log.note(Damage::BadHuffmanCode);
        log.note(Damage::WrongRestart {
            found: 0xd3,
            expected: 1,
        });
        log.note(Damage::BadHuffmanCode);
        log.note(Damage::WrongRestart {
            found: 0xd9,
            expected: 5,
        });
        assert_eq!(log.records().len(), 2);
        assert_eq!(
            log.to_string(),
            "bad Huffman code (2 times); found marker 0xd3 instead of RST1 (2 times)"
        );
    }
}
