//! Larger frames are refused before decoding: a decompression bomb cannot
//! allocate more than this many samples per component. chexlens' other
//! decoders hold to the same numbers (`chexlens_images::image` takes them from here).

pub const MAX_PIXELS: u64 = 80_000_000;
pub const MAX_SIDE: u32 = 30_000;
