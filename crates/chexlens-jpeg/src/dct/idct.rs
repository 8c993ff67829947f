//! libjpeg-turbo's accurate integer inverse DCT (`jpeg_idct_islow`, the
//! default `JDCT_ISLOW`), step for step, so that every sample rounds as it
//! does in Pillow. Its SIMD forms give the same results and saturate
//! out-of-range values, as the clamp at the end does.

const CONST_BITS: u32 = 13;
const FIX_0_298631336: i64 = 2446;
const FIX_0_390180644: i64 = 3196;
const FIX_0_541196100: i64 = 4433;
const FIX_0_765366865: i64 = 6270;
const FIX_0_899976223: i64 = 7373;
const FIX_1_175875602: i64 = 9633;
const FIX_1_501321110: i64 = 12299;
const FIX_1_847759065: i64 = 15137;
const FIX_1_961570560: i64 = 16069;
const FIX_2_053119869: i64 = 16819;
const FIX_2_562915447: i64 = 20995;
const FIX_3_072711026: i64 = 25172;

fn descale(x: i64, n: u32) -> i64 {
    (x + (1 << (n - 1))) >> n
}

/// One 1-D pass over eight dequantised values `v` (in natural order
/// positions 0..8 of a row or column); returns the eight outputs before
/// the final descale, as libjpeg's even/odd parts compute them.
fn butterfly(v: [i64; 8]) -> [i64; 8] {
    // Even part.
    let (z2, z3) = (v[2], v[6]);
    let z1 = (z2 + z3) * FIX_0_541196100;
    let tmp2 = z1 + z3 * -FIX_1_847759065;
    let tmp3 = z1 + z2 * FIX_0_765366865;
    let tmp0 = (v[0] + v[4]) << CONST_BITS;
    let tmp1 = (v[0] - v[4]) << CONST_BITS;
    let (tmp10, tmp13) = (tmp0 + tmp3, tmp0 - tmp3);
    let (tmp11, tmp12) = (tmp1 + tmp2, tmp1 - tmp2);
    // Odd part.
    let (mut t0, mut t1, mut t2, mut t3) = (v[7], v[5], v[3], v[1]);
    let z1 = t0 + t3;
    let z2 = t1 + t2;
    let z3 = t0 + t2;
    let z4 = t1 + t3;
    let z5 = (z3 + z4) * FIX_1_175875602;
    t0 *= FIX_0_298631336;
    t1 *= FIX_2_053119869;
    t2 *= FIX_3_072711026;
    t3 *= FIX_1_501321110;
    let z1 = z1 * -FIX_0_899976223;
    let z2 = z2 * -FIX_2_562915447;
    let z3 = z3 * -FIX_1_961570560 + z5;
    let z4 = z4 * -FIX_0_390180644 + z5;
    t0 += z1 + z3;
    t1 += z2 + z4;
    t2 += z2 + z3;
    t3 += z1 + z4;
    [
        tmp10 + t3,
        tmp11 + t2,
        tmp12 + t1,
        tmp13 + t0,
        tmp13 - t0,
        tmp12 - t1,
        tmp11 - t2,
        tmp10 - t3,
    ]
}

/// Inverse-transforms one block of quantised coefficients (natural order)
/// into `out` (8 rows of `stride` samples), for 8- or 12-bit precision.
pub(super) fn idct_islow(coefficients: &[i16; 64], quant: &[u16; 64], precision: u8, out: &mut [u16], stride: usize) {
    // 12-bit builds keep one bit less in the first pass (jidctint.c).
    let pass1_bits: u32 = if precision == 8 { 2 } else { 1 };
    let center = 1i64 << (precision - 1);
    let max = (1i64 << precision) - 1;
    let mut workspace = [0i64; 64];
    for column in 0..8 {
        let v: [i64; 8] =
            std::array::from_fn(|row| coefficients[row * 8 + column] as i64 * quant[row * 8 + column] as i64);
        let result = if v[1..].iter().all(|&x| x == 0) {
            [v[0] << pass1_bits; 8]
        } else {
            butterfly(v).map(|x| descale(x, CONST_BITS - pass1_bits))
        };
        for (row, value) in result.into_iter().enumerate() {
            workspace[row * 8 + column] = value;
        }
    }
    for row in 0..8 {
        let v: [i64; 8] = std::array::from_fn(|column| workspace[row * 8 + column]);
        // The all-zero shortcut descales exactly as the full pass would.
        let result = butterfly(v).map(|x| descale(x, CONST_BITS + pass1_bits + 3));
        let line = &mut out[row * stride..row * stride + 8];
        for (sample, value) in line.iter_mut().zip(result) {
            *sample = (value + center).clamp(0, max) as u16;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dc_only_block_is_flat_at_its_mean() {
        let mut coefficients = [0i16; 64];
        coefficients[0] = 80; // 80 * 1 / 8 = 10 above the centre
        let quant = [1u16; 64];
        let mut out = [0u16; 64];
        idct_islow(&coefficients, &quant, 8, &mut out, 8);
        assert!(out.iter().all(|&v| v == 138), "{out:?}");
        idct_islow(&coefficients, &quant, 12, &mut out, 8);
        assert!(out.iter().all(|&v| v == 2058), "{out:?}");
    }

    #[test]
    fn out_of_range_values_saturate() {
        let mut coefficients = [0i16; 64];
        coefficients[0] = i16::MAX;
        let mut out = [0u16; 64];
        idct_islow(&coefficients, &[255u16; 64], 8, &mut out, 8);
        assert!(out.iter().all(|&v| v == 255));
        coefficients[0] = i16::MIN;
        idct_islow(&coefficients, &[255u16; 64], 8, &mut out, 8);
        assert!(out.iter().all(|&v| v == 0));
    }
}
