//! A scan's entropy-coded bytes as libjpeg-turbo's data source gives them
//! to both entropy decoders: stuffed FF 00 is an FF byte, a marker stops
//! the data (kept unread, as `unread_marker`), and restart markers are
//! read, or resynchronised to when they are wrong, as jdmarker.c's
//! `read_restart_marker` and `jpeg_resync_to_restart` do.

use super::JpegError;
use super::damage::{Damage, DamageLog};
use super::segments::{Found, find_marker};

const RST0: u8 = 0xD0;
const SOF0: u8 = 0xC0;

pub(super) struct ScanStream<'a> {
    data: &'a [u8],
    pos: usize,
    /// The marker the data stopped at, not yet read.
    marker: Option<Found>,
    /// The file ended without a marker: it was cut off.
    ended: bool,
    /// Bytes the entropy decoder read but did not use, counted into the
    /// next marker's extraneous bytes.
    unused: usize,
}

impl<'a> ScanStream<'a> {
    pub(super) fn new(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos,
            marker: None,
            ended: false,
            unused: 0,
        }
    }

    /// The next data byte, or None at a marker or at the end of the file.
    #[inline]
    pub(super) fn byte(&mut self) -> Option<u8> {
        if self.marker.is_some() || self.ended {
            return None;
        }
        match self.data.get(self.pos) {
            Some(&byte) if byte != 0xFF => {
                self.pos += 1;
                Some(byte)
            }
            Some(_) => {
                // FF, any padding FFs, then 00 (an FF data byte) or a marker code.
                let mut i = self.pos + 1;
                while self.data.get(i) == Some(&0xFF) {
                    i += 1;
                }
                match self.data.get(i) {
                    Some(0) => {
                        self.pos = i + 1;
                        Some(0xFF)
                    }
                    Some(&code) => {
                        self.marker = Some(Found {
                            code,
                            start: self.pos,
                            after: i + 1,
                            discarded: 0,
                        });
                        None
                    }
                    None => {
                        self.ended = true;
                        None
                    }
                }
            }
            None => {
                self.ended = true;
                None
            }
        }
    }

    pub(super) fn at_marker(&self) -> bool {
        self.marker.is_some()
    }

    #[cfg(test)]
    pub(super) fn ended(&self) -> bool {
        self.ended
    }

    /// Fails when the file ended inside the scan (Pillow refuses such a file).
    pub(super) fn check_not_cut(&self) -> Result<(), JpegError> {
        if self.ended {
            return Err(JpegError::Truncated("the image data stops inside a scan"));
        }
        Ok(())
    }

    /// `bytes` the decoder held but did not use, as process_restart counts them.
    pub(super) fn discard(&mut self, bytes: usize) {
        self.unused += bytes;
    }

    /// Finds the next marker, warning of the bytes skipped on the way.
    fn next_marker(&mut self, log: &mut DamageLog) -> Result<Found, JpegError> {
        let found = find_marker(self.data, self.pos)?;
        let bytes = found.discarded + std::mem::take(&mut self.unused);
        if bytes > 0 {
            log.note(Damage::Extraneous {
                bytes,
                marker: found.code,
            });
        }
        self.marker = Some(found);
        Ok(found)
    }

    fn consume_marker(&mut self) {
        if let Some(found) = self.marker.take() {
            self.pos = found.after;
        }
    }

    /// Reads restart marker `n`. A wrong one is resynchronised to as
    /// jpeg_resync_to_restart does: one of the next two expected restarts
    /// or a non-restart marker is left unread (the segment before it is
    /// then empty), one of the two before it is skipped, anything else is
    /// taken for the one expected.
    pub(super) fn restart(&mut self, n: u8, log: &mut DamageLog) -> Result<(), JpegError> {
        let mut found = match self.marker {
            Some(found) => found,
            None => self.next_marker(log)?,
        };
        if found.code == RST0 + n {
            self.consume_marker();
            return Ok(());
        }
        log.note(Damage::WrongRestart {
            found: found.code,
            expected: n,
        });
        loop {
            let nearby = |d: u8| RST0 + ((n + d) & 7);
            let code = found.code;
            let skip = if code < SOF0 {
                true
            } else if !(RST0..=RST0 + 7).contains(&code) || code == nearby(1) || code == nearby(2) {
                return Ok(());
            } else {
                code == nearby(7) || code == nearby(6)
            };
            self.consume_marker();
            if !skip {
                return Ok(());
            }
            found = self.next_marker(log)?;
        }
    }

    /// Where reading the file's markers goes on after the scan: at the
    /// marker the data stopped at, or after the last byte read.
    pub(super) fn resume_at(&self) -> usize {
        self.marker.map_or(self.pos, |found| found.start)
    }

    /// Bytes held but unused at the end of the scan, for the next marker's count.
    pub(super) fn unused(&self) -> usize {
        self.unused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuffed_bytes_and_markers() {
        let data = [1, 0xFF, 0x00, 0xFF, 0xFF, 0x00, 2, 0xFF, 0xD9];
        let mut stream = ScanStream::new(&data, 0);
        let bytes: Vec<u8> = std::iter::from_fn(|| stream.byte()).collect();
        assert_eq!(bytes, [1, 0xFF, 0xFF, 2]);
        assert!(stream.at_marker() && !stream.ended());
        assert_eq!(stream.resume_at(), 7);
    }

    #[test]
    fn restarts_resynchronise_as_libjpeg_does() {
        let mut log = DamageLog::default();
        // Expected RST1, found RST2 (the next one): left unread.
        let mut stream = ScanStream::new(&[0xFF, 0xD2, 5], 0);
        stream.restart(1, &mut log).unwrap();
        assert!(stream.at_marker());
        // Expected RST1, found RST0 (the one before): skipped to the next marker.
        let mut stream = ScanStream::new(&[0xFF, 0xD0, 7, 0xFF, 0xD1, 5], 0);
        stream.restart(1, &mut log).unwrap();
        assert_eq!(stream.byte(), Some(5));
        // Expected RST1, found RST5 (far away): taken for RST1.
        let mut stream = ScanStream::new(&[0xFF, 0xD5, 9], 0);
        stream.restart(1, &mut log).unwrap();
        assert_eq!(stream.byte(), Some(9));
        assert_eq!(
            log.to_string(),
            "found marker 0xd2 instead of RST1 (3 times); 1 extraneous bytes before marker 0xd1"
        );
    }
}
