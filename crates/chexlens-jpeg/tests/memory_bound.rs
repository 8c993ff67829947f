//! What decoding costs in memory, measured by counting every allocation:
//! a refused file at most twice its size plus 64 MB whatever its frame
//! claims; a sound 80-megapixel colour baseline file its output planes,
//! plus its subsampled chroma while it is upsampled, plus one MCU row of
//! coefficients; a progressive file its coefficients as well. The large
//! files are written here (flat blocks with DC steps, standard tables), as
//! a real encoder would lay them out: their cost depends on their geometry,
//! which is what is measured.
//!
//! One test, so that no other test's allocations are counted.

use chexlens_jpeg::dct as jpeg;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(live, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let live = LIVE.fetch_add(new_size, Ordering::SeqCst) + new_size;
        PEAK.fetch_max(live, Ordering::SeqCst);
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The peak of live bytes above those live before `f` ran, and its result.
fn peak_of<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let result = f();
    (PEAK.load(Ordering::SeqCst) - before, result)
}

const MB: usize = 1 << 20;

/// Bits, MSB first, with JPEG's byte stuffing and 1-bit padding.
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl Bits {
    fn put(&mut self, value: u32, count: u32) {
        for i in (0..count).rev() {
            self.acc = (self.acc << 1) | ((value >> i) & 1);
            self.n += 1;
            if self.n == 8 {
                self.out.push(self.acc as u8);
                if self.acc == 0xFF {
                    self.out.push(0);
                }
                (self.acc, self.n) = (0, 0);
            }
        }
    }

    fn finish(mut self) -> Vec<u8> {
        while self.n != 0 {
            self.put(1, 1);
        }
        self.out
    }
}

fn segment(out: &mut Vec<u8>, marker: u8, body: &[u8]) {
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(body);
}

/// SOI, two flat quantisation tables and a frame header; components
/// (id, sampling) with luma first.
fn header(marker: u8, width: u16, height: u16, components: &[(u8, u8)]) -> Vec<u8> {
    let mut out = vec![0xFF, 0xD8];
    for table in 0..2u8 {
        let mut body = vec![table];
        body.extend([2u8; 64]);
        segment(&mut out, 0xDB, &body);
    }
    let mut body = vec![8];
    body.extend(height.to_be_bytes());
    body.extend(width.to_be_bytes());
    body.push(components.len() as u8);
    for (i, &(id, sampling)) in components.iter().enumerate() {
        body.extend([id, sampling, (i > 0) as u8]);
    }
    segment(&mut out, marker, &body);
    out
}

/// The DC difference of block `n`: steps of +1 and -1, coded with the
/// standard tables (category 1: "010" luma, "01" chroma, then its bit).
fn dc_step(bits: &mut Bits, n: usize, luma: bool) {
    if luma {
        bits.put(0b010, 3);
    } else {
        bits.put(0b01, 2);
    }
    bits.put(n.is_multiple_of(2) as u32, 1);
}

/// A baseline 4:2:0 colour file of `width` x `height`, every block flat
/// (its DC stepping), with the standard Huffman tables libjpeg supplies.
fn baseline_420(width: u16, height: u16) -> Vec<u8> {
    let mut out = header(0xC0, width, height, &[(1, 0x22), (2, 0x11), (3, 0x11)]);
    segment(&mut out, 0xDA, &[3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]);
    let mcus = (width as usize).div_ceil(16) * (height as usize).div_ceil(16);
    let mut bits = Bits::default();
    for n in 0..mcus {
        for _ in 0..4 {
            dc_step(&mut bits, n, true);
            bits.put(0b1010, 4); // luma end of block
        }
        for _ in 0..2 {
            dc_step(&mut bits, n, false);
            bits.put(0b00, 2); // chroma end of block
        }
    }
    out.extend(bits.finish());
    out.extend([0xFF, 0xD9]);
    out
}

/// A progressive 4:2:0 colour file: an interleaved DC scan, then for each
/// component one AC scan of end-of-band runs over all of its blocks
/// (table 2: the symbols EOB0 to EOB14, each coded as its 4-bit number).
fn progressive_420(width: u16, height: u16) -> Vec<u8> {
    let components = [(1u8, 0x22u8), (2, 0x11), (3, 0x11)];
    let mut out = header(0xC2, width, height, &components);
    let mut runs = vec![0x12, 0, 0, 0, 15];
    runs.extend([0u8; 12]);
    runs.extend((0..15u8).map(|n| n << 4));
    segment(&mut out, 0xC4, &runs);
    segment(&mut out, 0xDA, &[3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 0, 0]);
    let mcus = (width as usize).div_ceil(16) * (height as usize).div_ceil(16);
    let mut bits = Bits::default();
    for n in 0..mcus {
        for _ in 0..4 {
            dc_step(&mut bits, n, true);
        }
        dc_step(&mut bits, n, false);
        dc_step(&mut bits, n, false);
    }
    out.extend(bits.finish());
    for (i, &(id, _)) in components.iter().enumerate() {
        let scale = if i == 0 { 1 } else { 2 };
        let blocks = (width as usize).div_ceil(8 * scale) * (height as usize).div_ceil(8 * scale);
        segment(&mut out, 0xDA, &[1, id, 0x02, 1, 63, 0]);
        let mut bits = Bits::default();
        let mut left = blocks;
        while left > 0 {
            let run = left.min(32_767);
            let n = run.ilog2();
            bits.put(n, 4);
            bits.put((run - (1 << n)) as u32, n);
            left -= run;
        }
        out.extend(bits.finish());
    }
    out.extend([0xFF, 0xD9]);
    out
}

#[test]
fn memory_stays_within_its_bounds() {
    // A 740-byte colour file (a real crop, its frame header claiming
    // 8900 x 8900) cut before its data ends: refused before anything the
    // size of the image exists.
    let real = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/jpeg/astronaut_420_q90.jpg"
    ))
    .unwrap();
    let sof = real.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    let mut claiming = real[..740].to_vec();
    claiming[sof + 5..sof + 9].copy_from_slice(&[0x22, 0xC4, 0x22, 0xC4]);
    let (peak, result) = peak_of(|| jpeg::decode(&claiming));
    assert!(result.is_err());
    assert!(
        peak <= 2 * claiming.len() + 64 * MB,
        "a refused 740-byte file cost {peak} bytes"
    );
    eprintln!(
        "refused 740-byte file claiming 8900x8900 colour: peak {} kB",
        peak / 1024
    );

    // An 80-megapixel colour baseline file: its output planes (bytes), a
    // quarter-size chroma plane while it is upsampled, one MCU row.
    let (width, height) = (10_000usize, 8_000usize);
    let file = baseline_420(width as u16, height as u16);
    let (peak, image) = peak_of(|| jpeg::decode(&file).unwrap());
    assert_eq!((image.width, image.height, image.planes.count()), (width, height, 3));
    assert!(image.damage.is_empty());
    let output = 3 * width * height;
    let chroma = 2 * (width / 2) * (height / 2);
    let mcu_row = (width.div_ceil(16) * 6) * 128;
    eprintln!(
        "80 MP colour baseline ({} MB file): peak {} MB = output {} MB + {} MB",
        file.len() / MB,
        peak / MB,
        output / MB,
        (peak - output) / MB
    );
    assert!(peak <= output + chroma + mcu_row + MB, "baseline peak {peak}");
    drop(image);

    // A 20-megapixel progressive colour file holds every coefficient
    // (2 bytes a sample, chroma at a quarter) until its last scan; they are
    // freed row by row as they become samples.
    let (width, height) = (5_120usize, 4_000usize);
    let file = progressive_420(width as u16, height as u16);
    let (peak, image) = peak_of(|| jpeg::decode(&file).unwrap());
    assert_eq!((image.width, image.height), (width, height));
    assert!(image.damage.is_empty(), "{}", image.damage);
    let output = 3 * width * height;
    let coefficients = (width * height + 2 * (width / 2) * (height / 2)) * 2;
    eprintln!(
        "20 MP colour progressive: peak {} MB = output {} MB + {} MB (its {} MB of coefficients are freed a row at a time as they become samples)",
        peak / MB,
        output / MB,
        (peak - output) / MB,
        coefficients / MB
    );
    assert!(peak <= output + coefficients + MB, "progressive peak {peak}");
}
