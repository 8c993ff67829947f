//! libjpeg-turbo's accurate integer inverse DCT (`JDCT_ISLOW`, the
//! default), step for step, so that every sample rounds as it does in
//! Pillow. For 8-bit samples that is its SIMD kernel (jidctint-avx2.asm and
//! its SSE2 twin, which Pillow's x86-64 builds run): the same arithmetic as
//! jidctint.c, but on 16-bit lanes, so that where a damaged file's
//! coefficients are extreme, dequantisation and some sums wrap at 16 bits
//! and each pass saturates. 12-bit samples use jidctint.c's C form.

use super::samples::Sample;

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
pub(super) fn idct_islow<T: Sample>(
    coefficients: &[i16; 64],
    quant: &[u16; 64],
    precision: u8,
    out: &mut [T],
    stride: usize,
) {
    if precision == 8 {
        idct_islow_16bit_lanes(coefficients, quant, out, stride);
    } else {
        idct_islow_c(coefficients, quant, precision, out, stride);
    }
}

/// The constants as the kernel holds them: 16-bit words (pmaddwd operands).
const fn word(c: i64) -> i32 {
    c as i16 as i32
}

/// One 1-D pass of the SIMD kernel (its DODCT macro) over eight 16-bit
/// inputs: products of 16-bit words and their sums in 32 bits (pmaddwd),
/// the sums in0 + in4, in0 - in4, in7 + in3 and in5 + in1 in 16 bits,
/// outputs descaled and saturated to 16 bits (packssdw).
#[inline(always)]
fn pass_16bit(v: [i16; 8], descale_bits: u32) -> [i16; 8] {
    let x = |i: usize| v[i] as i32;
    // Even part.
    let tmp3 = x(2) * word(FIX_0_541196100 + FIX_0_765366865) + x(6) * word(FIX_0_541196100);
    let tmp2 = x(2) * word(FIX_0_541196100) + x(6) * word(FIX_0_541196100 - FIX_1_847759065);
    let tmp0 = (v[0].wrapping_add(v[4]) as i32) << CONST_BITS;
    let tmp1 = (v[0].wrapping_sub(v[4]) as i32) << CONST_BITS;
    let (tmp10, tmp13) = (tmp0.wrapping_add(tmp3), tmp0.wrapping_sub(tmp3));
    let (tmp11, tmp12) = (tmp1.wrapping_add(tmp2), tmp1.wrapping_sub(tmp2));
    // Odd part.
    let (sum73, sum51) = (v[7].wrapping_add(v[3]) as i32, v[5].wrapping_add(v[1]) as i32);
    let z3 = sum73 * word(FIX_1_175875602 - FIX_1_961570560) + sum51 * word(FIX_1_175875602);
    let z4 = sum73 * word(FIX_1_175875602) + sum51 * word(FIX_1_175875602 - FIX_0_390180644);
    let odd0 = (x(7) * word(FIX_0_298631336 - FIX_0_899976223) + x(1) * word(-FIX_0_899976223)).wrapping_add(z3);
    let odd1 = (x(5) * word(FIX_2_053119869 - FIX_2_562915447) + x(3) * word(-FIX_2_562915447)).wrapping_add(z4);
    let odd2 = (x(5) * word(-FIX_2_562915447) + x(3) * word(FIX_3_072711026 - FIX_2_562915447)).wrapping_add(z3);
    let odd3 = (x(7) * word(-FIX_0_899976223) + x(1) * word(FIX_1_501321110 - FIX_0_899976223)).wrapping_add(z4);
    let out = |x: i32| (x.wrapping_add(1 << (descale_bits - 1)) >> descale_bits).clamp(-32_768, 32_767) as i16;
    [
        out(tmp10.wrapping_add(odd3)),
        out(tmp11.wrapping_add(odd2)),
        out(tmp12.wrapping_add(odd1)),
        out(tmp13.wrapping_add(odd0)),
        out(tmp13.wrapping_sub(odd0)),
        out(tmp12.wrapping_sub(odd1)),
        out(tmp11.wrapping_sub(odd2)),
        out(tmp10.wrapping_sub(odd3)),
    ]
}

/// One pass over the eight lanes of `rows` (lane `j` of row `r` is input
/// `r` of transform `j`), as the SIMD kernel runs it: eight transforms side
/// by side, which the compiler vectorises the same way.
#[inline(always)]
fn pass_lanes(rows: &[[i16; 8]; 8], descale_bits: u32) -> [[i16; 8]; 8] {
    let mut out = [[0i16; 8]; 8];
    for j in 0..8 {
        let v = std::array::from_fn(|r| rows[r][j]);
        let result = pass_16bit(v, descale_bits);
        for (k, value) in result.into_iter().enumerate() {
            out[k][j] = value;
        }
    }
    out
}

fn transpose(m: &[[i16; 8]; 8]) -> [[i16; 8]; 8] {
    std::array::from_fn(|i| std::array::from_fn(|j| m[j][i]))
}

/// The 8-bit kernel: dequantisation in 16 bits (pmullw), columns (with its
/// shortcut when rows 1 to 7 are all zero: the DC term shifted in 16 bits),
/// then rows, saturated to -128..=127 and centred (packsswb, paddb).
fn idct_islow_16bit_lanes<T: Sample>(coefficients: &[i16; 64], quant: &[u16; 64], out: &mut [T], stride: usize) {
    const PASS1_BITS: u32 = 2;
    let dequantised: [[i16; 8]; 8] =
        std::array::from_fn(|r| std::array::from_fn(|c| coefficients[r * 8 + c].wrapping_mul(quant[r * 8 + c] as i16)));
    // Pass 1 over the columns: workspace[row][column].
    let workspace = if coefficients[8..].iter().all(|&c| c == 0) {
        [dequantised[0].map(|dc| dc.wrapping_shl(PASS1_BITS)); 8]
    } else {
        pass_lanes(&dequantised, CONST_BITS - PASS1_BITS)
    };
    // Pass 2 over the rows: the workspace's rows become lanes.
    let columns = pass_lanes(&transpose(&workspace), CONST_BITS + PASS1_BITS + 3);
    for (row, line) in out.chunks_mut(stride).take(8).enumerate() {
        for (column, sample) in line[..8].iter_mut().enumerate() {
            *sample = T::of((columns[column][row].clamp(-128, 127) + 128) as u32);
        }
    }
}

/// jidctint.c's C form, for 12-bit samples.
fn idct_islow_c<T: Sample>(coefficients: &[i16; 64], quant: &[u16; 64], precision: u8, out: &mut [T], stride: usize) {
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
            *sample = T::of((value + center).clamp(0, max) as u32);
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
        coefficients[0] = 1000;
        let mut out = [0u16; 64];
        idct_islow(&coefficients, &[4u16; 64], 8, &mut out, 8);
        assert!(out.iter().all(|&v| v == 255));
        coefficients[0] = -1000;
        idct_islow(&coefficients, &[4u16; 64], 8, &mut out, 8);
        assert!(out.iter().all(|&v| v == 0));
    }

    #[test]
    fn extreme_coefficients_wrap_in_16_bit_lanes_as_the_simd_kernel_does() {
        // 32767 * 255 = 8355585 keeps 32513 in 16 bits; shifted left by 2 it
        // keeps -1020; the row pass gives (-1020 * 2^13 + 2^17) >> 18 = -32,
        // so every sample is 128 - 32 = 96 (the C form would give 255).
        let mut coefficients = [0i16; 64];
        coefficients[0] = i16::MAX;
        let mut out = [0u16; 64];
        idct_islow(&coefficients, &[255u16; 64], 8, &mut out, 8);
        assert!(out.iter().all(|&v| v == 96), "{out:?}");
    }
}
