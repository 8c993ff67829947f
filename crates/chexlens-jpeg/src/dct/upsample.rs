//! Subsampled components brought to full size as libjpeg-turbo does by
//! default ("fancy" upsampling, jdsample.c): triangle filters for 2:1
//! horizontally, vertically or both, and replication for other ratios.
//! Edge rows repeat the nearest real row, as jdmainct.c's context rows do.

use super::samples::Sample;

/// A component's decoded samples: `width` x `height`.
pub(super) struct Plane<T> {
    pub width: usize,
    pub height: usize,
    pub samples: Vec<T>,
}

impl<T: Sample> Plane<T> {
    fn row(&self, y: usize) -> &[T] {
        // Rows past the last real one repeat it (set_bottom_pointers).
        let y = y.min(self.height - 1);
        &self.samples[y * self.width..(y + 1) * self.width]
    }

    /// The row a fancy filter blends with: above for the first output row
    /// of a pair, below for the second; the first row stands for the one
    /// above it.
    fn neighbour(&self, y: usize, below: bool) -> &[T] {
        if below {
            self.row(y + 1)
        } else {
            self.row(y.saturating_sub(1))
        }
    }
}

/// The component at `width` x `height`, expanded by `h` x `v` (a
/// full-size component is returned as it is, without a copy).
pub(super) fn to_full_size<T: Sample>(plane: Plane<T>, h: usize, v: usize, width: usize, height: usize) -> Vec<T> {
    if (h, v) == (1, 1) && (plane.width, plane.height) == (width, height) {
        return plane.samples;
    }
    let plane = &plane;
    let mut out = vec![T::default(); width * height];
    let fancy_across = plane.width > 2;
    // h2v2's column sums, one row's at a time.
    let mut sums = Vec::with_capacity(plane.width + 2);
    for (y, line) in out.chunks_exact_mut(width).enumerate() {
        match (h, v) {
            (1, 1) => line.copy_from_slice(&plane.row(y)[..width]),
            (2, 1) if fancy_across => h2v1(plane.row(y), line),
            (1, 2) => h1v2(plane.row(y / 2), plane.neighbour(y / 2, y % 2 == 1), y % 2 == 1, line),
            (2, 2) if fancy_across => h2v2(plane.row(y / 2), plane.neighbour(y / 2, y % 2 == 1), &mut sums, line),
            _ => {
                let source = plane.row(y / v);
                for (x, sample) in line.iter_mut().enumerate() {
                    *sample = source[x / h];
                }
            }
        }
    }
    out
}

/// 3/4 of the nearer sample and 1/4 of the further, rounding alternately
/// up and down (h2v1_fancy_upsample); the edge samples repeat, which
/// gives libjpeg's edge outputs (the edge sample itself).
fn h2v1<T: Sample>(row: &[T], out: &mut [T]) {
    let n = row.len();
    let (mut previous, mut current) = (row[0].get(), row[0].get());
    for (i, pair) in out.chunks_mut(2).enumerate().take(n) {
        let next = row.get(i + 1).map_or(current, |v| v.get());
        pair[0] = T::of((current * 3 + previous + 1) >> 2);
        if let Some(right) = pair.get_mut(1) {
            *right = T::of((current * 3 + next + 2) >> 2);
        }
        (previous, current) = (current, next);
    }
}

/// The vertical form (h1v2_fancy_upsample).
fn h1v2<T: Sample>(row: &[T], neighbour: &[T], below: bool, out: &mut [T]) {
    let bias = if below { 2 } else { 1 };
    for ((sample, near), far) in out.iter_mut().zip(row).zip(neighbour) {
        *sample = T::of((near.get() * 3 + far.get() + bias) >> 2);
    }
}

/// Both at once on column sums of the nearer and further rows
/// (h2v2_fancy_upsample), the edge sums repeating as in h2v1.
fn h2v2<T: Sample>(row: &[T], neighbour: &[T], sums: &mut Vec<u32>, out: &mut [T]) {
    let n = row.len();
    // The sums with the edge ones repeated: sums[i + 1] is column i's.
    sums.clear();
    sums.push(row[0].get() * 3 + neighbour[0].get());
    sums.extend(row.iter().zip(neighbour).map(|(a, b)| a.get() * 3 + b.get()));
    sums.push(sums[n]);
    let whole = out.len() / 2;
    for (pair, s) in out.chunks_exact_mut(2).zip(sums.windows(3)).take(whole) {
        pair[0] = T::of((s[1] * 3 + s[0] + 8) >> 4);
        pair[1] = T::of((s[1] * 3 + s[2] + 7) >> 4);
    }
    if !out.len().is_multiple_of(2) {
        let i = whole + 1;
        out[2 * whole] = T::of((sums[i] * 3 + sums[i - 1] + 8) >> 4);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(width: usize, height: usize, samples: Vec<u16>) -> Plane<u16> {
        Plane { width, height, samples }
    }

    #[test]
    fn horizontal_triangle_filter_matches_libjpeg() {
        // in 10, 20, 40: out 10, (30+20+2)/4=13, (60+10+1)/4=17, (60+40+2)/4=25,
        // (120+20+1)/4=35, 40.
        let p = plane(3, 1, vec![10, 20, 40]);
        assert_eq!(to_full_size(p, 2, 1, 6, 1), vec![10, 13, 17, 25, 35, 40]);
        // An odd width drops the last output column.
        assert_eq!(
            to_full_size(plane(3, 1, vec![10, 20, 40]), 2, 1, 5, 1),
            vec![10, 13, 17, 25, 35]
        );
    }

    #[test]
    fn narrow_components_are_replicated() {
        let p = plane(2, 1, vec![10, 20]);
        assert_eq!(to_full_size(p, 2, 1, 4, 1), vec![10, 10, 20, 20]);
    }

    #[test]
    fn vertical_filter_repeats_edge_rows() {
        let p = plane(1, 2, vec![10, 30]);
        // Row 0 blends with itself above; row 3 with the repeated last row.
        assert_eq!(
            to_full_size(p, 1, 2, 1, 4),
            vec![10, (30 + 30 + 2) / 4, (90 + 10 + 1) / 4, 30]
        );
    }

    #[test]
    fn two_by_two_filter_weights_nine_three_three_one() {
        let p = plane(3, 1, vec![16, 16, 16]);
        assert_eq!(to_full_size(p, 2, 2, 6, 2), vec![16; 12]);
        let p = plane(3, 2, vec![0, 0, 0, 160, 160, 160]);
        // Output row 1 (below row 0) = (3*0 + 160) * 4 / 16 = 40.
        assert_eq!(to_full_size(p, 2, 2, 6, 4)[6..12], [40, 40, 40, 40, 40, 40]);
    }
}
