//! RLE Lossless frames (PS3.5 Annex G), decoded here rather than by
//! dicom-rs, whose decoder indexes past a segment that decodes short and
//! trusts the header's segment count: a 64-byte header lists up to 15
//! segment offsets, each segment is PackBits holding one byte of every
//! sample (most significant byte first), and every segment must decode to
//! exactly Rows x Columns bytes.

use super::DicomError;

fn corrupt(detail: impl Into<String>) -> DicomError {
    DicomError::Corrupt(detail.into())
}

/// PackBits into `out`, stopping once it holds `want` bytes.
fn unpack(segment: &[u8], want: usize, out: &mut Vec<u8>) {
    let mut at = 0;
    while at < segment.len() && out.len() < want {
        let n = segment[at] as i8;
        at += 1;
        if n >= 0 {
            let literal = &segment[at..(at + n as usize + 1).min(segment.len())];
            out.extend_from_slice(&literal[..literal.len().min(want - out.len())]);
            at += n as usize + 1;
        } else if n != -128 {
            let Some(&byte) = segment.get(at) else { break };
            let run = (1 - n as isize) as usize;
            out.extend(std::iter::repeat_n(byte, run.min(want - out.len())));
            at += 1;
        }
    }
}

/// The frame as native-endian samples of `bytes_per_sample` bytes,
/// interleaved per pixel, as the other decoders give them.
pub fn decode_frame(
    fragment: &[u8],
    columns: usize,
    rows: usize,
    samples: usize,
    bytes_per_sample: usize,
) -> Result<Vec<u8>, DicomError> {
    let segments = samples * bytes_per_sample;
    let word = |i: usize| {
        fragment
            .get(i * 4..i * 4 + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    if word(0) != Some(segments) || segments > 15 {
        return Err(corrupt(format!(
            "its RLE frame header does not list the {segments} segments its tags need"
        )));
    }
    let pixels = columns * rows;
    let mut out = vec![0u8; pixels * segments];
    let mut plane = Vec::with_capacity(pixels);
    for s in 0..segments {
        let begin = word(s + 1).ok_or_else(|| corrupt("its RLE frame header is cut short"))?;
        let end = if s + 1 < segments {
            word(s + 2).ok_or_else(|| corrupt("its RLE frame header is cut short"))?
        } else {
            fragment.len()
        };
        let segment = fragment
            .get(begin..end)
            .filter(|_| begin >= 64)
            .ok_or_else(|| corrupt(format!("RLE segment {s} lies outside its frame")))?;
        plane.clear();
        unpack(segment, pixels, &mut plane);
        if plane.len() < pixels {
            return Err(corrupt(format!(
                "RLE segment {s} decodes to {} of the {pixels} bytes the frame needs",
                plane.len()
            )));
        }
        // Segment s holds byte (s % bytes) of sample (s / bytes), most
        // significant first; written in native byte order.
        let (sample, significance) = (s / bytes_per_sample, bytes_per_sample - 1 - s % bytes_per_sample);
        let byte = if cfg!(target_endian = "little") {
            significance
        } else {
            bytes_per_sample - 1 - significance
        };
        for (p, &v) in plane.iter().enumerate() {
            out[(p * samples + sample) * bytes_per_sample + byte] = v;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(segments: &[&[u8]]) -> Vec<u8> {
        let mut header = vec![0u8; 64];
        header[..4].copy_from_slice(&(segments.len() as u32).to_le_bytes());
        let mut offset = 64u32;
        let mut body = Vec::new();
        for (i, s) in segments.iter().enumerate() {
            header[4 + 4 * i..8 + 4 * i].copy_from_slice(&offset.to_le_bytes());
            offset += s.len() as u32;
            body.extend_from_slice(s);
        }
        [header, body].concat()
    }

    #[test]
    fn decodes_literal_and_replicate_runs_into_16_bit_samples() {
        // MSB segment: a run of 4 x 0x01; LSB segment: literal 1, 2, 3, 4.
        let data = frame(&[&[0xFD, 0x01], &[0x03, 1, 2, 3, 4]]);
        let out = decode_frame(&data, 2, 2, 1, 2).unwrap();
        let values: Vec<u16> = out.chunks(2).map(|c| u16::from_ne_bytes([c[0], c[1]])).collect();
        assert_eq!(values, [0x0101, 0x0102, 0x0103, 0x0104]);
    }

    #[test]
    fn short_segments_and_bad_headers_are_refused() {
        let short = frame(&[&[0x01, 9, 9]]);
        assert!(
            decode_frame(&short, 2, 2, 1, 1)
                .unwrap_err()
                .to_string()
                .contains("decodes to 2 of the 4")
        );
        assert!(
            decode_frame(&frame(&[&[0xFD, 1]]), 2, 2, 3, 1).is_err(),
            "3 samples need 3 segments"
        );
        assert!(decode_frame(&[1, 0, 0, 0], 2, 2, 1, 1).is_err(), "header cut short");
        assert!(decode_frame(&[], 2, 2, 1, 1).is_err());
    }
}
