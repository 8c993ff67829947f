//! The dense f64 linear algebra the statistics need, row-major, with no
//! BLAS: a Gram matrix, a Cholesky factor, its inverse, and the norms of
//! vectors whitened by it. The inner loops are written as `row += c * row`
//! over contiguous slices, which the compiler vectorises without reordering
//! any sum, and are blocked so that the rows they reuse stay in cache: for
//! 1024 features and 2000 images a fit takes well under a second.

/// Rows of the input whose groups of four share each output row while it
/// sits in L1 (32 rows of 1024 f64 are 256 kB, an L2's worth).
const GRAM_CHUNK_ROWS: usize = 32;

/// Images whitened together, so that each row of the factor is read once
/// per block rather than once per image.
const WHITEN_BLOCK_IMAGES: usize = 16;

/// `sum over rows r of r r^T` for `rows` (each `width` long, row-major):
/// a `width x width` symmetric matrix, exactly symmetric.
pub fn gram(rows: &[f64], width: usize) -> Vec<f64> {
    let mut g = vec![0.0; width * width];
    if width == 0 {
        return g;
    }
    for chunk in rows.chunks(GRAM_CHUNK_ROWS * width) {
        for a in 0..width {
            // The upper triangle only: row a from column a.
            let g_row = &mut g[a * width + a..(a + 1) * width];
            let mut quads = chunk.chunks_exact(4 * width);
            for quad in &mut quads {
                let (r0, rest) = quad.split_at(width);
                let (r1, rest) = rest.split_at(width);
                let (r2, r3) = rest.split_at(width);
                let c = [r0[a], r1[a], r2[a], r3[a]];
                // Rows of a triangular factor are zero past their diagonal.
                if c == [0.0; 4] {
                    continue;
                }
                let rows = (&r0[a..], &r1[a..], &r2[a..], &r3[a..]);
                for ((((g, x0), x1), x2), x3) in g_row.iter_mut().zip(rows.0).zip(rows.1).zip(rows.2).zip(rows.3) {
                    *g += c[0] * x0 + c[1] * x1 + c[2] * x2 + c[3] * x3;
                }
            }
            for row in quads.remainder().chunks_exact(width) {
                axpy(g_row, row[a], &row[a..]);
            }
        }
    }
    mirror_upper(&mut g, width);
    g
}

/// `y += c * x` over the shorter of the two.
fn axpy(y: &mut [f64], c: f64, x: &[f64]) {
    if c != 0.0 {
        y.iter_mut().zip(x).for_each(|(y, x)| *y += c * x);
    }
}

/// Copies the upper triangle onto the lower one.
fn mirror_upper(m: &mut [f64], width: usize) {
    for a in 0..width {
        for b in 0..a {
            m[a * width + b] = m[b * width + a];
        }
    }
}

/// `a . b` with eight running sums, which lets the compiler vectorise it.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut sums = [0.0f64; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = a8.remainder().iter().zip(b8.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a8.zip(b8) {
        for k in 0..8 {
            sums[k] += x[k] * y[k];
        }
    }
    sums.iter().sum::<f64>() + tail
}

/// The lower Cholesky factor `L` of a symmetric matrix (`L L^T = m`), or
/// the first pivot that is not safely positive: `m` is then not positive
/// definite, or too close to singular for its inverse to mean anything.
pub fn cholesky(m: &[f64], width: usize) -> Result<Vec<f64>, usize> {
    let largest_diagonal = (0..width).map(|i| m[i * width + i]).fold(0.0, f64::max);
    let smallest_pivot = largest_diagonal * 1e-12;
    let mut l = vec![0.0; width * width];
    for i in 0..width {
        for j in 0..=i {
            let (done, row_i) = l.split_at_mut(i * width);
            let row_j = if j == i {
                &row_i[..j]
            } else {
                &done[j * width..j * width + j]
            };
            let s = m[i * width + j] - dot(&row_i[..j], row_j);
            if j == i {
                // NaN is not finite either.
                if !s.is_finite() || s <= smallest_pivot {
                    return Err(i);
                }
                row_i[i] = s.sqrt();
            } else {
                row_i[j] = s / done[j * width + j];
            }
        }
    }
    Ok(l)
}

/// The inverse of a lower triangular `l` with a positive diagonal, itself
/// lower triangular: row i is `-(sum over k < i of l[i][k] inv[k]) / l[i][i]`.
pub fn lower_inverse(l: &[f64], width: usize) -> Vec<f64> {
    let mut inv = vec![0.0; width * width];
    for i in 0..width {
        let (done, rest) = inv.split_at_mut(i * width);
        let row = &mut rest[..width];
        for k in 0..i {
            axpy(&mut row[..=k], l[i * width + k], &done[k * width..=k * width + k]);
        }
        let diagonal = l[i * width + i];
        row[..i].iter_mut().for_each(|v| *v = -*v / diagonal);
        row[i] = 1.0 / diagonal;
    }
    inv
}

/// `m^T` of a square matrix.
pub fn transpose(m: &[f64], width: usize) -> Vec<f64> {
    let mut t = vec![0.0; width * width];
    for a in 0..width {
        for b in 0..width {
            t[b * width + a] = m[a * width + b];
        }
    }
    t
}

/// `|inv x|^2` for each row x of `x`, where `inv_t` is `inv^T` for a lower
/// triangular `inv` (so upper triangular): `inv x = sum over b of x[b] inv_t[b]`,
/// row b of `inv_t` being zero before column b.
pub fn whitened_squared_norms(x: &[f64], width: usize, inv_t: &[f64]) -> Vec<f64> {
    let mut norms = Vec::with_capacity(x.len() / width.max(1));
    if width == 0 {
        return norms;
    }
    let mut y = vec![0.0; WHITEN_BLOCK_IMAGES * width];
    for block in x.chunks(WHITEN_BLOCK_IMAGES * width) {
        let images = block.len() / width;
        y.iter_mut().for_each(|v| *v = 0.0);
        for b in (0..width).step_by(4) {
            let rows = (b..(b + 4).min(width)).map(|r| &inv_t[r * width + b..(r + 1) * width]);
            let rows: Vec<&[f64]> = rows.collect();
            for (image, out) in block.chunks_exact(width).zip(y.chunks_exact_mut(width)) {
                accumulate_rows(&mut out[b..], &image[b..b + rows.len()], &rows);
            }
        }
        norms.extend(y.chunks_exact(width).take(images).map(|row| dot(row, row)));
    }
    norms
}

/// `out += sum over k of c[k] rows[k]`, four rows at a time when there are four.
fn accumulate_rows(out: &mut [f64], c: &[f64], rows: &[&[f64]]) {
    if let ([c0, c1, c2, c3], [r0, r1, r2, r3]) = (c, rows) {
        for ((((o, x0), x1), x2), x3) in out.iter_mut().zip(*r0).zip(*r1).zip(*r2).zip(*r3) {
            *o += c0 * x0 + c1 * x1 + c2 * x2 + c3 * x3;
        }
    } else {
        c.iter().zip(rows).for_each(|(&c, row)| axpy(out, c, row));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small symmetric positive definite matrix and its rows' products.
    fn spd(width: usize) -> Vec<f64> {
        let rows: Vec<f64> = (0..(width + 3) * width).map(|i| (i as f64 * 0.91).sin()).collect();
        let mut m = gram(&rows, width);
        (0..width).for_each(|i| m[i * width + i] += 0.5);
        m
    }

    fn naive_product(a: &[f64], b: &[f64], width: usize) -> Vec<f64> {
        let mut out = vec![0.0; width * width];
        for i in 0..width {
            for j in 0..width {
                out[i * width + j] = (0..width).map(|k| a[i * width + k] * b[k * width + j]).sum();
            }
        }
        out
    }

    #[test]
    fn gram_matches_the_definition_for_any_row_count() {
        for (count, width) in [(1, 3), (5, 3), (37, 6), (70, 9)] {
            let rows: Vec<f64> = (0..count * width).map(|i| (i as f64 * 0.37).sin()).collect();
            let g = gram(&rows, width);
            for a in 0..width {
                for b in 0..width {
                    let want: f64 = (0..count).map(|r| rows[r * width + a] * rows[r * width + b]).sum();
                    assert!((g[a * width + b] - want).abs() < 1e-12, "{count}x{width} [{a},{b}]");
                }
            }
        }
    }

    #[test]
    fn cholesky_and_its_inverse_give_the_identity() {
        for width in [1, 2, 5, 13] {
            let m = spd(width);
            let l = cholesky(&m, width).unwrap();
            let back = naive_product(&l, &transpose(&l, width), width);
            assert!(back.iter().zip(&m).all(|(x, y)| (x - y).abs() < 1e-9));
            let identity = naive_product(&lower_inverse(&l, width), &l, width);
            for (i, v) in identity.iter().enumerate() {
                let want = if i % (width + 1) == 0 { 1.0 } else { 0.0 };
                assert!((v - want).abs() < 1e-9, "width {width}: {v} at {i}");
            }
        }
    }

    #[test]
    fn cholesky_refuses_what_is_not_positive_definite() {
        assert_eq!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2), Err(1));
        assert_eq!(cholesky(&[0.0, 0.0, 0.0, 0.0], 2), Err(0));
        assert_eq!(cholesky(&[f64::NAN], 1), Err(0));
    }

    #[test]
    fn whitened_norms_are_quadratic_forms_of_the_inverse() {
        let width = 7;
        let m = spd(width);
        let inv = lower_inverse(&cholesky(&m, width).unwrap(), width);
        let precision = gram(&inv, width);
        let x: Vec<f64> = (0..20 * width).map(|i| (i as f64 * 1.3).cos() * 3.0).collect();
        let norms = whitened_squared_norms(&x, width, &transpose(&inv, width));
        assert_eq!(norms.len(), 20);
        for (row, norm) in x.chunks(width).zip(norms) {
            let quadratic: f64 = (0..width)
                .map(|a| row[a] * dot(&precision[a * width..(a + 1) * width], row))
                .sum();
            assert!(
                (norm - quadratic).abs() < 1e-9 * quadratic.max(1.0),
                "{norm} vs {quadratic}"
            );
        }
    }
}
