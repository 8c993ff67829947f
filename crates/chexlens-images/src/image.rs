//! The decoded image every input becomes, and the hard bounds on it.

/// Larger images are refused before decoding (a decompression bomb cannot
/// allocate more than this many pixels). The JPEG decoders' own bounds, so
/// that every decoder refuses the same images.
pub const MAX_PIXELS: u64 = chexlens_jpeg::limits::MAX_PIXELS;
pub const MAX_SIDE: u32 = chexlens_jpeg::limits::MAX_SIDE;
/// Image files above this are refused before they are read: no radiograph
/// is this large (80 MP of 16-bit samples is 160 MB).
pub const MAX_FILE_BYTES: u64 = 512 << 20;

/// An X-ray as 8-bit planes: one for grey images, three (R, G, B) for colour.
#[derive(Debug, Clone, PartialEq)]
pub struct XrayImage {
    pub width: usize,
    pub height: usize,
    pub planes: Vec<Vec<u8>>,
}

impl XrayImage {
    pub fn is_grey(&self) -> bool {
        self.planes.len() == 1
    }

    /// Interleaved RGBA, for display.
    pub fn to_rgba(&self) -> Vec<u8> {
        let n = self.width * self.height;
        let mut out = Vec::with_capacity(n * 4);
        for i in 0..n {
            let (r, g, b) = match self.planes.as_slice() {
                [grey] => (grey[i], grey[i], grey[i]),
                [r, g, b] => (r[i], g[i], b[i]),
                _ => (0, 0, 0),
            };
            out.extend_from_slice(&[r, g, b, 255]);
        }
        out
    }
}
