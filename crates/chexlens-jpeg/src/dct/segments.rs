//! Finding a JPEG's markers and reading its segments' bodies, within the
//! bytes that are there: what the marker parser, the entropy decoder (at
//! restart markers) and the JPEG-LS decoder read the file with.

use super::JpegError;

/// The next marker at or after `pos`: its code and the position after it.
/// Stray bytes before it are skipped, as libjpeg does.
pub(crate) fn next_marker(data: &[u8], pos: usize) -> Result<(u8, usize), JpegError> {
    let mut i = pos;
    loop {
        while data.get(i).is_some_and(|&b| b != 0xFF) {
            i += 1;
        }
        while data.get(i) == Some(&0xFF) {
            i += 1;
        }
        match data.get(i) {
            None => return Err(JpegError::Truncated("no end-of-image marker")),
            // FF 00 is a stuffed data byte, not a marker.
            Some(0x00) => i += 1,
            Some(&marker) => return Ok((marker, i + 1)),
        }
    }
}

/// A marker found by [`find_marker`]: its code, where its first FF byte
/// is, where the byte after its code is, and how many bytes before it
/// belonged to nothing, counted as libjpeg's next_marker counts them
/// (padding FFs are not counted, a stuffed FF 00 counts two).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    pub code: u8,
    pub start: usize,
    pub after: usize,
    pub discarded: usize,
}

/// The next marker at or after `pos`, with the bytes skipped on the way.
pub(crate) fn find_marker(data: &[u8], pos: usize) -> Result<Found, JpegError> {
    let mut i = pos;
    let mut discarded = 0;
    loop {
        while data.get(i).is_some_and(|&b| b != 0xFF) {
            i += 1;
            discarded += 1;
        }
        let start = i;
        while data.get(i) == Some(&0xFF) {
            i += 1;
        }
        match data.get(i) {
            None => return Err(JpegError::Truncated("no end-of-image marker")),
            Some(0x00) => {
                i += 1;
                discarded += 2;
            }
            Some(&code) => {
                return Ok(Found {
                    code,
                    start,
                    after: i + 1,
                    discarded,
                });
            }
        }
    }
}

/// A segment's body (after its two length bytes) and where the next one starts.
pub(crate) fn segment(data: &[u8], pos: usize) -> Result<(&[u8], usize), JpegError> {
    let length = match data.get(pos..pos + 2) {
        Some(&[a, b]) => u16::from_be_bytes([a, b]) as usize,
        _ => return Err(JpegError::Truncated("a marker segment is cut off")),
    };
    if length < 2 {
        return Err(JpegError::Corrupt("a marker segment has a length below 2".into()));
    }
    let body = data
        .get(pos + 2..pos + length)
        .ok_or(JpegError::Truncated("a marker segment is cut off"))?;
    Ok((body, pos + length))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_skip_stray_and_fill_bytes() {
        assert_eq!(next_marker(&[1, 2, 0xFF, 0xFF, 0xC4, 9], 0).unwrap(), (0xC4, 5));
        assert_eq!(next_marker(&[0xFF, 0x00, 0xFF, 0xD9], 0).unwrap(), (0xD9, 4));
        assert!(next_marker(&[1, 2, 3], 0).is_err());
    }

    #[test]
    fn skipped_bytes_are_counted_as_libjpeg_counts_them() {
        let found = find_marker(&[1, 2, 0xFF, 0x00, 3, 0xFF, 0xFF, 0xD9], 0).unwrap();
        assert_eq!(
            found,
            Found {
                code: 0xD9,
                start: 5,
                after: 8,
                discarded: 5
            }
        );
    }

    #[test]
    fn segments_are_bounded() {
        assert_eq!(segment(&[0, 4, 7, 8, 9], 0).unwrap(), (&[7u8, 8][..], 4));
        assert!(segment(&[0, 9, 7], 0).is_err());
        assert!(segment(&[0, 1], 0).is_err());
    }
}
