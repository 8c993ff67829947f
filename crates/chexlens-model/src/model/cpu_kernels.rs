//! CPU kernels over channels-last maps: one row of `channels` floats per
//! pixel, pixels in (image, y, x) order. With the `threads` feature each
//! kernel splits its rows over rayon's pool: every core natively, and the
//! threaded worker's pool in a cross-origin isolated page (one thread in
//! the plain worker). Natively it runs compiled for AVX2+FMA where the CPU
//! has them; in the browser with the build's wasm SIMD.

use super::erf::{gelu_derivative_value, gelu_value};

/// Floats handed to one task: enough to amortise scheduling, small enough
/// to balance two to sixteen cores.
const TASK_FLOATS: usize = 1 << 15;

/// Calls `f(first_unit, chunk)` over `data` cut into chunks of whole units
/// of `unit` floats, in parallel where the build has threads.
pub fn for_each_chunk(data: &mut [f32], unit: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    let unit = unit.max(1);
    let per_task = (TASK_FLOATS / unit).max(1) * unit;
    #[cfg(feature = "threads")]
    {
        use rayon::prelude::*;
        data.par_chunks_mut(per_task)
            .enumerate()
            .for_each(|(i, chunk)| f(i * per_task / unit, chunk));
    }
    #[cfg(not(feature = "threads"))]
    data.chunks_mut(per_task)
        .enumerate()
        .for_each(|(i, chunk)| f(i * per_task / unit, chunk));
}

/// Defines a function whose body is compiled twice, for baseline x86-64
/// (SSE2 only) and for AVX2+FMA, the second used where the CPU has them.
/// The body is inlined into each copy, so what it calls must inline too.
macro_rules! simd_fn {
    ($(#[$meta:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) {
                    body($($arg),*)
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU was just checked for both features.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}

/// `dst = src @ weight^T` (`+= ` with `accumulate`), `src` `[rows, inputs]`,
/// `weight` `[outputs, inputs]` as PyTorch stores a Linear's.
pub fn matmul_transposed(src: &[f32], weight: &[f32], inputs: usize, dst: &mut [f32], accumulate: bool) {
    let outputs = weight.len() / inputs.max(1);
    let rows = src.len() / inputs.max(1);
    assert!(
        src.len() == rows * inputs && weight.len() == outputs * inputs && dst.len() == rows * outputs,
        "matmul shapes: src {} weight {} dst {} for {inputs} inputs",
        src.len(),
        weight.len(),
        dst.len()
    );
    if rows == 0 || outputs == 0 {
        return;
    }
    #[cfg(feature = "threads")]
    let parallelism = gemm::Parallelism::Rayon(0);
    #[cfg(not(feature = "threads"))]
    let parallelism = gemm::Parallelism::None;
    // SAFETY: the three buffers hold exactly the [rows, inputs],
    // [inputs, outputs] (read transposed) and [rows, outputs] matrices
    // the strides describe (checked above), and `dst` aliases neither input.
    unsafe {
        gemm::gemm(
            rows,
            outputs,
            inputs,
            dst.as_mut_ptr(),
            1,
            outputs as isize,
            accumulate,
            src.as_ptr(),
            1,
            inputs as isize,
            weight.as_ptr(),
            inputs as isize,
            1,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Adds `bias` to every row.
pub fn add_rows(data: &mut [f32], bias: &[f32]) {
    simd_fn! {
        fn add_to_rows(chunk: &mut [f32], bias: &[f32]) {
            for row in chunk.chunks_exact_mut(bias.len()) {
                row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
            }
        }
    }
    for_each_chunk(data, bias.len(), |_, chunk| add_to_rows(chunk, bias));
}

/// `row = GELU(row + bias)` for every row (the exact form, see `gelu`).
pub fn add_bias_gelu(data: &mut [f32], bias: &[f32]) {
    simd_fn! {
        fn bias_gelu_rows(chunk: &mut [f32], bias: &[f32]) {
            for row in chunk.chunks_exact_mut(bias.len()) {
                row.iter_mut().zip(bias).for_each(|(v, b)| *v = gelu_value(*v + b));
            }
        }
    }
    for_each_chunk(data, bias.len(), |_, chunk| bias_gelu_rows(chunk, bias));
}

/// GELU of every value (the exact form, see `gelu`).
pub fn gelu_in_place(data: &mut [f32]) {
    simd_fn! {
        fn gelu_values(chunk: &mut [f32]) {
            chunk.iter_mut().for_each(|v| *v = gelu_value(*v));
        }
    }
    for_each_chunk(data, 1, |_, chunk| gelu_values(chunk));
}

/// GELU's derivative of every value (see `gelu`).
pub fn gelu_derivative_in_place(data: &mut [f32]) {
    simd_fn! {
        fn gelu_derivative_values(chunk: &mut [f32]) {
            chunk.iter_mut().for_each(|v| *v = gelu_derivative_value(*v));
        }
    }
    for_each_chunk(data, 1, |_, chunk| gelu_derivative_values(chunk));
}

/// LayerNorm over each pixel's channels, as `nn.LayerNorm` computes it:
/// biased variance, `eps` inside the square root.
pub struct ChannelNorm<'a> {
    pub weight: &'a [f32],
    pub bias: &'a [f32],
    pub eps: f32,
}

impl ChannelNorm<'_> {
    #[inline(always)]
    fn normalize(&self, src: &[f32], dst: &mut [f32]) {
        let n = src.len() as f32;
        let mean = lane_sum(src, |v| v) / n;
        let variance = lane_sum(src, |v| (v - mean) * (v - mean)) / n;
        let inv_std = 1.0 / (variance + self.eps).sqrt();
        for (((d, s), w), b) in dst.iter_mut().zip(src).zip(self.weight).zip(self.bias) {
            *d = (s - mean) * inv_std * w + b;
        }
    }

    /// Normalises every row of `data` in place.
    pub fn apply_in_place(&self, data: &mut [f32]) {
        simd_fn! {
            fn normalize_rows(chunk: &mut [f32], norm: &ChannelNorm) {
                let mut copy = vec![0f32; norm.weight.len()];
                for row in chunk.chunks_exact_mut(norm.weight.len()) {
                    copy.copy_from_slice(row);
                    norm.normalize(&copy, row);
                }
            }
        }
        for_each_chunk(data, self.weight.len(), |_, chunk| normalize_rows(chunk, self));
    }
}

/// `sum(f(v))` in eight interleaved partial sums: one vector register,
/// and closer to a pairwise sum than a single running total.
#[inline(always)]
fn lane_sum(values: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0f32; 8];
    let chunks = values.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += f(v);
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// A channels-last map: `n` images of `height x width` pixels, `channels` floats each.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMap {
    pub data: Vec<f32>,
    pub n: usize,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

impl FeatureMap {
    /// From an NCHW buffer (a burn image tensor's data).
    pub fn from_nchw(nchw: &[f32], [n, channels, height, width]: [usize; 4]) -> Self {
        let plane = height * width;
        let mut data = vec![0f32; nchw.len()];
        for image in 0..n {
            let src = &nchw[image * channels * plane..][..channels * plane];
            let dst = &mut data[image * channels * plane..][..channels * plane];
            for (p, pixel) in dst.chunks_exact_mut(channels).enumerate() {
                for (c, v) in pixel.iter_mut().enumerate() {
                    *v = src[c * plane + p];
                }
            }
        }
        Self {
            data,
            n,
            height,
            width,
            channels,
        }
    }

    pub fn pixels(&self) -> usize {
        self.n * self.height * self.width
    }

    /// The non-overlapping `k x k` patches a stride-`k` convolution sees, one
    /// row per output pixel in (ky, kx, channel) order; trailing pixels that
    /// fill no whole patch are dropped, as PyTorch drops them.
    pub fn patches(&self, k: usize) -> FeatureMap {
        let (out_h, out_w, c) = (self.height / k, self.width / k, self.channels);
        let row = k * k * c;
        let mut data = vec![0f32; self.n * out_h * out_w * row];
        for_each_chunk(&mut data, out_w * row, |first_line, lines| {
            for (i, line) in lines.chunks_exact_mut(out_w * row).enumerate() {
                let (image, oy) = ((first_line + i) / out_h, (first_line + i) % out_h);
                for (ox, patch) in line.chunks_exact_mut(row).enumerate() {
                    for ky in 0..k {
                        let y = oy * k + ky;
                        let src = &self.data[((image * self.height + y) * self.width + ox * k) * c..][..k * c];
                        patch[ky * k * c..][..k * c].copy_from_slice(src);
                    }
                }
            }
        });
        FeatureMap {
            data,
            n: self.n,
            height: out_h,
            width: out_w,
            channels: row,
        }
    }
}

/// Depthwise `k x k` convolution (stride 1, padding k/2, with bias)
/// followed by `norm`, written to `dst` (the map's shape). `weight` is
/// `[k*k, channels]`: tap-major, so each tap's channel row is contiguous.
pub fn depthwise_conv_norm(map: &FeatureMap, conv: &DepthwiseTaps, norm: &ChannelNorm, dst: &mut [f32]) {
    assert_eq!(dst.len(), map.data.len(), "depthwise conv output size");
    for_each_chunk(dst, map.width * map.channels, |first_line, lines| {
        depthwise_lines(map, conv, norm, first_line, lines)
    });
}

/// A depthwise conv's weights as `depthwise_conv_norm` reads them.
pub struct DepthwiseTaps<'a> {
    /// `[k*k, channels]`.
    pub weight: &'a [f32],
    pub bias: &'a [f32],
    pub k: usize,
}

simd_fn! {
    /// Output image lines `first_line..` (counted over all images) of
    /// `depthwise_conv_norm`.
    fn depthwise_lines(map: &FeatureMap, conv: &DepthwiseTaps, norm: &ChannelNorm, first_line: usize, lines: &mut [f32]) {
        let (h, w, c, k) = (map.height, map.width, map.channels, conv.k);
        let pad = k / 2;
        let mut acc = vec![0f32; c];
        for (i, line) in lines.chunks_exact_mut(w * c).enumerate() {
            let (image, oy) = ((first_line + i) / h, (first_line + i) % h);
            let ys = oy.saturating_sub(pad)..(oy + k - pad).min(h);
            for (ox, out) in line.chunks_exact_mut(c).enumerate() {
                acc.copy_from_slice(conv.bias);
                let xs = ox.saturating_sub(pad)..(ox + k - pad).min(w);
                for y in ys.clone() {
                    let ky = y + pad - oy;
                    let input_row = &map.data[(image * h + y) * w * c..][..w * c];
                    for x in xs.clone() {
                        let kx = x + pad - ox;
                        let taps = &conv.weight[(ky * k + kx) * c..][..c];
                        let pixel = &input_row[x * c..][..c];
                        for ((a, t), p) in acc.iter_mut().zip(taps).zip(pixel) {
                            *a += t * p;
                        }
                    }
                }
                norm.normalize(&acc, out);
            }
        }
    }
}
