//! Arithmetic-coded scans (ITU T.81 Annex D and F.1.4, G.1.3), decoded as
//! libjpeg-turbo's jdarith.c decodes them: its adaptive binary decoder
//! with the Qe table of T.81 Table D.2, the statistics bins and
//! conditioning of Annex F, and its answers to damage (zeros past a
//! marker; a value out of range leaves the rest of the segment at zero).

use super::JpegError;
use super::damage::{Damage, DamageLog};
use super::markers::{Conditioning, NATURAL, ScanHeader, Tables};
use super::stream::ScanStream;

/// T.81 Table D.2: Qe, the next state after a less and after a more
/// probable symbol, and whether a less probable one swaps their meaning;
/// entry 113 is T.851's fixed estimate of one half.
const STATES: [(u16, u8, u8, bool); 114] = [
    (0x5a1d, 1, 1, true),
    (0x2586, 14, 2, false),
    (0x1114, 16, 3, false),
    (0x080b, 18, 4, false),
    (0x03d8, 20, 5, false),
    (0x01da, 23, 6, false),
    (0x00e5, 25, 7, false),
    (0x006f, 28, 8, false),
    (0x0036, 30, 9, false),
    (0x001a, 33, 10, false),
    (0x000d, 35, 11, false),
    (0x0006, 9, 12, false),
    (0x0003, 10, 13, false),
    (0x0001, 12, 13, false),
    (0x5a7f, 15, 15, true),
    (0x3f25, 36, 16, false),
    (0x2cf2, 38, 17, false),
    (0x207c, 39, 18, false),
    (0x17b9, 40, 19, false),
    (0x1182, 42, 20, false),
    (0x0cef, 43, 21, false),
    (0x09a1, 45, 22, false),
    (0x072f, 46, 23, false),
    (0x055c, 48, 24, false),
    (0x0406, 49, 25, false),
    (0x0303, 51, 26, false),
    (0x0240, 52, 27, false),
    (0x01b1, 54, 28, false),
    (0x0144, 56, 29, false),
    (0x00f5, 57, 30, false),
    (0x00b7, 59, 31, false),
    (0x008a, 60, 32, false),
    (0x0068, 62, 33, false),
    (0x004e, 63, 34, false),
    (0x003b, 32, 35, false),
    (0x002c, 33, 9, false),
    (0x5ae1, 37, 37, true),
    (0x484c, 64, 38, false),
    (0x3a0d, 65, 39, false),
    (0x2ef1, 67, 40, false),
    (0x261f, 68, 41, false),
    (0x1f33, 69, 42, false),
    (0x19a8, 70, 43, false),
    (0x1518, 72, 44, false),
    (0x1177, 73, 45, false),
    (0x0e74, 74, 46, false),
    (0x0bfb, 75, 47, false),
    (0x09f8, 77, 48, false),
    (0x0861, 78, 49, false),
    (0x0706, 79, 50, false),
    (0x05cd, 48, 51, false),
    (0x04de, 50, 52, false),
    (0x040f, 50, 53, false),
    (0x0363, 51, 54, false),
    (0x02d4, 52, 55, false),
    (0x025c, 53, 56, false),
    (0x01f8, 54, 57, false),
    (0x01a4, 55, 58, false),
    (0x0160, 56, 59, false),
    (0x0125, 57, 60, false),
    (0x00f6, 58, 61, false),
    (0x00cb, 59, 62, false),
    (0x00ab, 61, 63, false),
    (0x008f, 61, 32, false),
    (0x5b12, 65, 65, true),
    (0x4d04, 80, 66, false),
    (0x412c, 81, 67, false),
    (0x37d8, 82, 68, false),
    (0x2fe8, 83, 69, false),
    (0x293c, 84, 70, false),
    (0x2379, 86, 71, false),
    (0x1edf, 87, 72, false),
    (0x1aa9, 87, 73, false),
    (0x174e, 72, 74, false),
    (0x1424, 72, 75, false),
    (0x119c, 74, 76, false),
    (0x0f6b, 74, 77, false),
    (0x0d51, 75, 78, false),
    (0x0bb6, 77, 79, false),
    (0x0a40, 77, 48, false),
    (0x5832, 80, 81, true),
    (0x4d1c, 88, 82, false),
    (0x438e, 89, 83, false),
    (0x3bdd, 90, 84, false),
    (0x34ee, 91, 85, false),
    (0x2eae, 92, 86, false),
    (0x299a, 93, 87, false),
    (0x2516, 86, 71, false),
    (0x5570, 88, 89, true),
    (0x4ca9, 95, 90, false),
    (0x44d9, 96, 91, false),
    (0x3e22, 97, 92, false),
    (0x3824, 99, 93, false),
    (0x32b4, 99, 94, false),
    (0x2e17, 93, 86, false),
    (0x56a8, 95, 96, true),
    (0x4f46, 101, 97, false),
    (0x47e5, 102, 98, false),
    (0x41cf, 103, 99, false),
    (0x3c3d, 104, 100, false),
    (0x375e, 99, 93, false),
    (0x5231, 105, 102, false),
    (0x4c0f, 106, 103, false),
    (0x4639, 107, 104, false),
    (0x415e, 103, 99, false),
    (0x5627, 105, 106, true),
    (0x50e7, 108, 107, false),
    (0x4b85, 109, 103, false),
    (0x5597, 110, 109, false),
    (0x504f, 111, 107, false),
    (0x5a10, 110, 111, true),
    (0x5522, 112, 109, false),
    (0x59eb, 112, 111, true),
    (0x5a1d, 113, 113, false),
];

/// The fixed-probability bin's state (signs and refinement bits).
const FIXED: u8 = 113;
const DC_BINS: usize = 64;
const AC_BINS: usize = 256;

/// The adaptive binary decoder of D.2 (C register, interval A, bit counter CT).
struct Coder<'a> {
    stream: ScanStream<'a>,
    c: i64,
    a: i64,
    ct: i32,
}

impl Coder<'_> {
    /// A fresh interval, reading two bytes before the first decision.
    fn reset(&mut self) {
        self.c = 0;
        self.a = 0;
        self.ct = -16;
    }

    /// One binary decision with the statistics bin `bin` (its more probable
    /// symbol in bit 7, its state below), adapting the bin.
    fn decide(&mut self, bin: &mut u8) -> bool {
        while self.a < 0x8000 {
            self.ct -= 1;
            if self.ct < 0 {
                // Past a marker the data is zeros (legal in arithmetic coding).
                let data = self.stream.byte().unwrap_or(0);
                self.c = (self.c << 8) | data as i64;
                self.ct += 8;
                if self.ct < 0 {
                    self.ct += 1;
                    if self.ct == 0 {
                        // Two initial bytes read: A becomes 0x10000 below.
                        self.a = 0x8000;
                    }
                }
            }
            self.a <<= 1;
        }
        let state = *bin;
        let (qe, next_lps, next_mps, switch) = STATES[(state & 0x7F) as usize];
        let qe = qe as i64;
        let mps = state & 0x80;
        let after_mps = mps | next_mps;
        let after_lps = (mps ^ if switch { 0x80 } else { 0 }) | next_lps;
        let mut symbol = mps != 0;
        self.a -= qe;
        // CT is never negative here: the loop above reads until it is not.
        let cut = self.a << self.ct.max(0);
        if self.c >= cut {
            self.c -= cut;
            if self.a < qe {
                *bin = after_mps;
            } else {
                *bin = after_lps;
                symbol = !symbol;
            }
            self.a = qe;
        } else if self.a < 0x8000 {
            if self.a < qe {
                *bin = after_lps;
                symbol = !symbol;
            } else {
                *bin = after_mps;
            }
        }
        symbol
    }

    /// F.1.4.4.1.3 and Figure F.24: a value of magnitude category `m` (its
    /// top bit), its lower bits decided with `bin`, and its sign.
    fn value(&mut self, bin: &mut u8, mut m: i32, negative: bool) -> i32 {
        let mut v = m;
        while m > 1 {
            m >>= 1;
            if self.decide(bin) {
                v |= m;
            }
        }
        v += 1;
        if negative { -v } else { v }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ArithPass {
    Sequential,
    DcFirst,
    DcRefine,
    AcFirst,
    AcRefine,
}

/// One arithmetic-coded scan's decoder: the coder, the statistics of the
/// tables the scan uses, and each scanned component's DC prediction and context.
pub(super) struct ArithScan<'a> {
    coder: Coder<'a>,
    pass: ArithPass,
    dc_stats: Vec<[u8; DC_BINS]>,
    ac_stats: Vec<[u8; AC_BINS]>,
    fixed: u8,
    last_dc: [i32; 4],
    dc_context: [usize; 4],
    dc_tables: Vec<usize>,
    ac_tables: Vec<usize>,
    conditioning: Conditioning,
    ss: usize,
    se: usize,
    al: u32,
}

impl<'a> ArithScan<'a> {
    pub(super) fn new(data: &'a [u8], start: usize, scan: &ScanHeader, tables: &Tables, pass: ArithPass) -> Self {
        let mut decoder = Self {
            coder: Coder {
                stream: ScanStream::new(data, start),
                c: 0,
                a: 0,
                ct: -16,
            },
            pass,
            dc_stats: vec![[0; DC_BINS]; 16],
            ac_stats: vec![[0; AC_BINS]; 16],
            fixed: FIXED,
            last_dc: [0; 4],
            dc_context: [0; 4],
            dc_tables: scan.components.iter().map(|c| c.dc_table).collect(),
            ac_tables: scan.components.iter().map(|c| c.ac_table).collect(),
            conditioning: tables.conditioning,
            ss: scan.ss,
            se: scan.se,
            al: scan.al,
        };
        decoder.reset_statistics();
        decoder
    }

    /// Statistics, predictions and the coder start again (scan start and restarts).
    fn reset_statistics(&mut self) {
        for k in 0..self.dc_tables.len() {
            if matches!(self.pass, ArithPass::Sequential | ArithPass::DcFirst) {
                self.dc_stats[self.dc_tables[k]] = [0; DC_BINS];
                self.last_dc[k] = 0;
                self.dc_context[k] = 0;
            }
            if matches!(
                self.pass,
                ArithPass::Sequential | ArithPass::AcFirst | ArithPass::AcRefine
            ) {
                self.ac_stats[self.ac_tables[k]] = [0; AC_BINS];
            }
        }
        self.coder.reset();
    }

    pub(super) fn restart(&mut self, n: u8, log: &mut DamageLog) -> Result<(), JpegError> {
        self.coder.stream.restart(n, log)?;
        self.reset_statistics();
        Ok(())
    }

    /// After a value out of range the segment's remaining MCUs are left alone.
    pub(super) fn failed(&self) -> bool {
        self.coder.ct == -1 && self.pass != ArithPass::DcRefine
    }

    fn fail(&mut self, log: &mut DamageLog) {
        log.note(Damage::BadArithmeticCode);
        self.coder.ct = -1;
    }

    pub(super) fn check_data(&self) -> Result<(), JpegError> {
        self.coder.stream.check_not_cut()
    }

    pub(super) fn end(&self) -> (usize, usize) {
        (self.coder.stream.resume_at(), self.coder.stream.unused())
    }

    /// One block of the scan's `k`th component, as the pass reads it.
    pub(super) fn block(&mut self, k: usize, block: &mut [i16; 64], log: &mut DamageLog) {
        if self.failed() {
            return;
        }
        match self.pass {
            ArithPass::Sequential => {
                if let Some(dc) = self.dc_value(k, log) {
                    block[0] = dc as i16;
                    self.ac_values(self.ac_tables[k], block, 1, 63, 0, log);
                }
            }
            ArithPass::DcFirst => {
                if let Some(dc) = self.dc_value(k, log) {
                    block[0] = (dc << self.al) as i16;
                }
            }
            ArithPass::DcRefine => {
                if self.coder.decide(&mut self.fixed) {
                    block[0] |= 1 << self.al;
                }
            }
            ArithPass::AcFirst => self.ac_values(self.ac_tables[0], block, self.ss, self.se, self.al, log),
            ArithPass::AcRefine => self.ac_refine(block, log),
        }
    }

    /// F.1.4.4.1: the DC difference, added to the prediction (kept to 16
    /// bits, as libjpeg keeps it); None when its magnitude overflows.
    fn dc_value(&mut self, k: usize, log: &mut DamageLog) -> Option<i32> {
        let table = self.dc_tables[k];
        let coder = &mut self.coder;
        let stats = &mut self.dc_stats[table];
        let mut st = self.dc_context[k];
        if !coder.decide(&mut stats[st]) {
            self.dc_context[k] = 0;
            return Some(self.last_dc[k]);
        }
        let sign = coder.decide(&mut stats[st + 1]) as usize;
        st += 2 + sign;
        let mut m = coder.decide(&mut stats[st]) as i32;
        if m != 0 {
            st = 20;
            while coder.decide(&mut stats[st]) {
                m <<= 1;
                if m == 0x8000 {
                    self.fail(log);
                    return None;
                }
                st += 1;
            }
        }
        let (lower, upper) = (self.conditioning.dc_lower[table], self.conditioning.dc_upper[table]);
        self.dc_context[k] = if m < (1 << lower) >> 1 {
            0
        } else if m > (1 << upper) >> 1 {
            12 + sign * 4
        } else {
            4 + sign * 4
        };
        let v = coder.value(&mut stats[st + 14], m, sign == 1);
        self.last_dc[k] = (self.last_dc[k] + v) & 0xFFFF;
        Some(self.last_dc[k])
    }

    /// F.1.4.4.2: AC coefficients `ss..=se` until the end of block.
    fn ac_values(&mut self, table: usize, block: &mut [i16; 64], ss: usize, se: usize, al: u32, log: &mut DamageLog) {
        let split = self.conditioning.ac_split[table] as usize;
        let mut k = ss;
        while k <= se {
            let coder = &mut self.coder;
            let stats = &mut self.ac_stats[table];
            let mut st = 3 * (k - 1);
            if coder.decide(&mut stats[st]) {
                break;
            }
            while !coder.decide(&mut stats[st + 1]) {
                st += 3;
                k += 1;
                if k > se {
                    self.fail(log);
                    return;
                }
            }
            let sign = coder.decide(&mut self.fixed);
            st += 2;
            let mut m = coder.decide(&mut stats[st]) as i32;
            if m != 0 && coder.decide(&mut stats[st]) {
                m <<= 1;
                st = if k <= split { 189 } else { 217 };
                while coder.decide(&mut stats[st]) {
                    m <<= 1;
                    if m == 0x8000 {
                        self.fail(log);
                        return;
                    }
                    st += 1;
                }
            }
            let v = coder.value(&mut stats[st + 14], m, sign);
            block[NATURAL[k]] = ((v as u32) << al) as i16;
            k += 1;
        }
    }

    /// G.1.3.3: a refinement bit for each non-zero coefficient of the band,
    /// and coefficients newly non-zero at this bit.
    fn ac_refine(&mut self, block: &mut [i16; 64], log: &mut DamageLog) {
        let table = self.ac_tables[0];
        let p1 = 1i16 << self.al;
        let m1 = -1i16 << self.al;
        // The end of block of the previous stages.
        let mut kex = self.se;
        while kex > 0 && block[NATURAL[kex]] == 0 {
            kex -= 1;
        }
        let mut k = self.ss;
        while k <= self.se {
            let coder = &mut self.coder;
            let stats = &mut self.ac_stats[table];
            let mut st = 3 * (k - 1);
            if k > kex && coder.decide(&mut stats[st]) {
                break;
            }
            loop {
                let coefficient = &mut block[NATURAL[k]];
                if *coefficient != 0 {
                    if coder.decide(&mut stats[st + 2]) {
                        let step = if *coefficient < 0 { m1 } else { p1 };
                        *coefficient = coefficient.wrapping_add(step);
                    }
                    break;
                }
                if coder.decide(&mut stats[st + 1]) {
                    *coefficient = if coder.decide(&mut self.fixed) { m1 } else { p1 };
                    break;
                }
                st += 3;
                k += 1;
                if k > self.se {
                    self.fail(log);
                    return;
                }
            }
            k += 1;
        }
    }
}
