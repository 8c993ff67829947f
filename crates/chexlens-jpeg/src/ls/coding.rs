//! JPEG-LS's context modelling and Golomb coding (ITU-T T.87 A.2-A.7):
//! gradients quantised into 365 contexts, median edge prediction with bias
//! correction, regular and run modes, lossless or near-lossless. The
//! arithmetic follows the standard step for step; CharLS is the usual
//! implementation of it.

use super::JpegLsError;
use super::bits::Bits;

/// Run lengths coded by one bit per 2^J[index] samples (A.7.1.1).
const J: [u32; 32] = [
    0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 9, 10, 11, 12, 13, 14, 15,
];

/// The coding parameters of a scan (C.2.4.1, with LSE overrides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Params {
    pub maxval: i32,
    pub near: i32,
    pub t1: i32,
    pub t2: i32,
    pub t3: i32,
    pub reset: i32,
}

impl Params {
    /// The default thresholds for `maxval` and `near` (C.2.4.1.1.1),
    /// where the file left them 0.
    pub(super) fn with_defaults(maxval: i32, near: i32, t: [i32; 3], reset: i32) -> Self {
        let clamp = |value: i32, low: i32| if value > maxval || value < low { low } else { value };
        const BASIC_T1: i32 = 3;
        const BASIC_T2: i32 = 7;
        const BASIC_T3: i32 = 21;
        let (d1, d2, d3) = if maxval >= 128 {
            let factor = (maxval.min(4095) + 128) / 256;
            let t1 = clamp(factor * (BASIC_T1 - 2) + 2 + 3 * near, near + 1);
            let t2 = clamp(factor * (BASIC_T2 - 3) + 3 + 5 * near, t1);
            (t1, t2, clamp(factor * (BASIC_T3 - 4) + 4 + 7 * near, t2))
        } else {
            let factor = 256 / (maxval + 1);
            let t1 = clamp((BASIC_T1 / factor + 3 * near).max(2), near + 1);
            let t2 = clamp((BASIC_T2 / factor + 5 * near).max(3), t1);
            (t1, t2, clamp((BASIC_T3 / factor + 7 * near).max(4), t2))
        };
        let pick = |given: i32, default: i32| if given == 0 { default } else { given };
        Self {
            maxval,
            near,
            t1: pick(t[0], d1),
            t2: pick(t[1], d2),
            t3: pick(t[2], d3),
            reset: pick(reset, 64),
        }
    }
}

#[derive(Clone, Copy)]
struct Context {
    a: i32,
    b: i32,
    c: i32,
    n: i32,
}

#[derive(Clone, Copy)]
struct RunContext {
    a: i32,
    n: i32,
    nn: i32,
    ri_type: i32,
}

/// One scan's adaptive state.
pub(super) struct Coder {
    p: Params,
    range: i32,
    qbpp: u32,
    limit: i32,
    contexts: [Context; 365],
    run_contexts: [RunContext; 2],
    /// The run index, one per component in line-interleaved scans.
    run_index: [usize; 4],
}

fn ceil_log2(n: i32) -> u32 {
    let mut bits = 0;
    while (1i64 << bits) < n as i64 {
        bits += 1;
    }
    bits
}

fn sign(n: i32) -> i32 {
    if n >= 0 { 1 } else { -1 }
}

/// Median edge detection (A.4.1).
fn predict(ra: i32, rb: i32, rc: i32) -> i32 {
    if rc >= ra.max(rb) {
        ra.min(rb)
    } else if rc <= ra.min(rb) {
        ra.max(rb)
    } else {
        ra + rb - rc
    }
}

impl Coder {
    pub(super) fn new(p: Params) -> Self {
        let range = (p.maxval + 2 * p.near) / (2 * p.near + 1) + 1;
        let bpp = ceil_log2(p.maxval + 1).max(2) as i32;
        let a = ((range + 32) / 64).max(2);
        let context = Context { a, b: 0, c: 0, n: 1 };
        let run = |ri_type| RunContext {
            a,
            n: 1,
            nn: 0,
            ri_type,
        };
        Self {
            p,
            range,
            qbpp: ceil_log2(range),
            limit: 2 * (bpp + bpp.max(8)),
            contexts: [context; 365],
            run_contexts: [run(0), run(1)],
            run_index: [0; 4],
        }
    }

    fn quantize(&self, d: i32) -> i32 {
        let Params { near, t1, t2, t3, .. } = self.p;
        match d {
            d if d <= -t3 => -4,
            d if d <= -t2 => -3,
            d if d <= -t1 => -2,
            d if d < -near => -1,
            d if d <= near => 0,
            d if d < t1 => 1,
            d if d < t2 => 2,
            d if d < t3 => 3,
            _ => 4,
        }
    }

    /// A prediction error added back, wrapped modulo the range and clamped (A.4.4).
    fn reconstruct(&self, prediction: i32, error: i32) -> i32 {
        let step = 2 * self.p.near + 1;
        let mut value = prediction + error * step;
        if value < -self.p.near {
            value += self.range * step;
        } else if value > self.p.maxval + self.p.near {
            value -= self.range * step;
        }
        value.clamp(0, self.p.maxval)
    }

    /// A Golomb-coded mapped error value with escape (A.5.3).
    fn golomb_value(&self, bits: &mut Bits, k: u32, limit: i32) -> Result<i32, JpegLsError> {
        let escape = limit - self.qbpp as i32 - 1;
        let high = bits.zeros(escape)?;
        if high >= escape {
            return Ok(bits.read(self.qbpp) + 1);
        }
        if k == 0 {
            return Ok(high);
        }
        Ok((high << k) + bits.read(k))
    }

    /// One line of one component. `prev` and `cur` hold the line with one
    /// sample of margin at each end; the caller has set the margins (A.2.1).
    pub(super) fn decode_line(
        &mut self,
        bits: &mut Bits,
        prev: &[i32],
        cur: &mut [i32],
        component: usize,
    ) -> Result<(), JpegLsError> {
        let width = cur.len() - 2;
        let mut x = 0;
        while x < width {
            let (ra, rc, rb, rd) = (cur[x], prev[x], prev[x + 1], prev[x + 2]);
            let q = (self.quantize(rd - rb) * 9 + self.quantize(rb - rc)) * 9 + self.quantize(rc - ra);
            if q != 0 {
                cur[x + 1] = self.regular(bits, q, predict(ra, rb, rc))?;
                x += 1;
                continue;
            }
            let run = self.run_length(bits, width - x, component)?;
            cur[x + 1..x + 1 + run].fill(ra);
            x += run;
            if x < width {
                let rb = prev[x + 1];
                cur[x + 1] = if (ra - rb).abs() <= self.p.near {
                    let error = self.interruption_error(bits, 1, component)?;
                    self.reconstruct(ra, error)
                } else {
                    let error = self.interruption_error(bits, 0, component)?;
                    self.reconstruct(rb, error * sign(rb - ra))
                };
                self.run_index[component] = self.run_index[component].saturating_sub(1);
                x += 1;
            }
        }
        Ok(())
    }

    /// One line of three sample-interleaved components (`prev` and `cur`
    /// hold pixels with a margin pixel at each end).
    pub(super) fn decode_pixel_line(
        &mut self,
        bits: &mut Bits,
        prev: &[[i32; 3]],
        cur: &mut [[i32; 3]],
    ) -> Result<(), JpegLsError> {
        let width = cur.len() - 2;
        let mut x = 0;
        while x < width {
            let (ra, rc, rb, rd) = (cur[x], prev[x], prev[x + 1], prev[x + 2]);
            let q: [i32; 3] = std::array::from_fn(|i| {
                (self.quantize(rd[i] - rb[i]) * 9 + self.quantize(rb[i] - rc[i])) * 9 + self.quantize(rc[i] - ra[i])
            });
            if q != [0, 0, 0] {
                let mut pixel = [0; 3];
                for i in 0..3 {
                    pixel[i] = self.regular(bits, q[i], predict(ra[i], rb[i], rc[i]))?;
                }
                cur[x + 1] = pixel;
                x += 1;
                continue;
            }
            let run = self.run_length(bits, width - x, 0)?;
            cur[x + 1..x + 1 + run].fill(ra);
            x += run;
            if x < width {
                let rb = prev[x + 1];
                let mut pixel = [0; 3];
                for i in 0..3 {
                    let error = self.interruption_error(bits, 0, 0)?;
                    pixel[i] = self.reconstruct(rb[i], error * sign(rb[i] - ra[i]));
                }
                cur[x + 1] = pixel;
                self.run_index[0] = self.run_index[0].saturating_sub(1);
                x += 1;
            }
        }
        Ok(())
    }

    /// Regular mode (A.4-A.6): one sample from its context `q` (non-zero).
    fn regular(&mut self, bits: &mut Bits, q: i32, prediction: i32) -> Result<i32, JpegLsError> {
        let negative = q < 0;
        let index = q.unsigned_abs() as usize;
        let Context { a, b, c, n } = self.contexts[index];
        let mut k = 0;
        while k < 24 && (n << k) < a {
            k += 1;
        }
        let corrected = prediction + if negative { -c } else { c };
        let corrected = corrected.clamp(0, self.p.maxval);
        let mapped = self.golomb_value(bits, k, self.limit)?;
        // Error mapping inverted (A.5.2): even values are non-negative.
        let mut error = if mapped & 1 == 1 {
            -((mapped + 1) >> 1)
        } else {
            mapped >> 1
        };
        if error.abs() > 65_535 {
            return Err(JpegLsError::Corrupt("a prediction error is out of range".into()));
        }
        if k == 0 && self.p.near == 0 && 2 * b + n - 1 < 0 {
            error = -error - 1;
        }
        self.update(index, error);
        Ok(self.reconstruct(corrected, if negative { -error } else { error }))
    }

    /// The context's statistics and bias correction (A.6).
    fn update(&mut self, index: usize, error: i32) {
        let (near, reset) = (self.p.near, self.p.reset);
        let context = &mut self.contexts[index];
        let mut a = context.a + error.abs();
        let mut b = context.b + error * (2 * near + 1);
        let mut n = context.n;
        if n == reset {
            a >>= 1;
            b >>= 1;
            n >>= 1;
        }
        n += 1;
        context.a = a;
        context.n = n;
        if b + n <= 0 {
            b += n;
            if b <= -n {
                b = -n + 1;
            }
            if context.c > -128 {
                context.c -= 1;
            }
        } else if b > 0 {
            b -= n;
            if b > 0 {
                b = 0;
            }
            if context.c < 127 {
                context.c += 1;
            }
        }
        context.b = b;
    }

    /// A run's length (A.7.1): whole segments of 2^J samples by single 1
    /// bits, then the remainder in J bits; at most `remaining`.
    fn run_length(&mut self, bits: &mut Bits, remaining: usize, component: usize) -> Result<usize, JpegLsError> {
        let index = &mut self.run_index[component];
        let mut length = 0usize;
        while bits.bit() {
            let segment = 1usize << J[*index];
            let count = segment.min(remaining - length);
            length += count;
            if count == segment {
                *index = (*index + 1).min(31);
            }
            if length == remaining {
                return Ok(length);
            }
            bits.check_overrun()?;
        }
        length += bits.read(J[*index]) as usize;
        if length > remaining {
            return Err(JpegLsError::Corrupt("a run goes past the end of its line".into()));
        }
        Ok(length)
    }

    /// A run interruption sample's error (A.7.2), in run context `which`.
    fn interruption_error(&mut self, bits: &mut Bits, which: usize, component: usize) -> Result<i32, JpegLsError> {
        let limit = self.limit - J[self.run_index[component]] as i32 - 1;
        let RunContext { a, n, nn, ri_type } = self.run_contexts[which];
        let target = a + (n >> 1) * ri_type;
        let (mut k, mut test) = (0u32, n);
        while test < target && k < 24 {
            test <<= 1;
            k += 1;
        }
        let mapped = self.golomb_value(bits, k, limit)?;
        let temp = mapped + ri_type;
        let odd = temp & 1;
        let magnitude = (temp + odd) / 2;
        let error = if (k != 0 || 2 * nn >= n) == (odd == 1) {
            -magnitude
        } else {
            magnitude
        };
        let reset = self.p.reset;
        let context = &mut self.run_contexts[which];
        if error < 0 {
            context.nn += 1;
        }
        context.a += (mapped + 1 - ri_type) >> 1;
        if context.n == reset {
            context.a >>= 1;
            context.n >>= 1;
            context.nn >>= 1;
        }
        context.n += 1;
        Ok(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_thresholds_are_the_standards() {
        // T.87 Table C.3: 8-bit lossless is 3, 7, 21; 16-bit lossless 18, 67, 276.
        let p = Params::with_defaults(255, 0, [0; 3], 0);
        assert_eq!((p.t1, p.t2, p.t3, p.reset), (3, 7, 21, 64));
        let p = Params::with_defaults(65_535, 0, [0; 3], 0);
        assert_eq!((p.t1, p.t2, p.t3), (18, 67, 276));
        let p = Params::with_defaults(255, 2, [0; 3], 0);
        assert_eq!((p.t1, p.t2, p.t3), (9, 17, 35));
        let p = Params::with_defaults(4095, 0, [5, 0, 0], 32);
        assert_eq!((p.t1, p.t2, p.t3, p.reset), (5, 67, 276, 32));
    }

    #[test]
    fn median_edge_prediction() {
        assert_eq!(predict(10, 20, 25), 10);
        assert_eq!(predict(10, 20, 5), 20);
        assert_eq!(predict(10, 20, 15), 15);
    }

    #[test]
    fn reconstruction_wraps_modulo_the_range() {
        let coder = Coder::new(Params::with_defaults(255, 0, [0; 3], 0));
        assert_eq!(coder.reconstruct(250, 10), 4);
        assert_eq!(coder.reconstruct(3, -5), 254);
    }
}
