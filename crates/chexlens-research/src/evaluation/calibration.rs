//! How well probabilities match frequencies: a reliability diagram on ten
//! equal-width bins (scikit-learn's `calibration_curve(n_bins=10,
//! strategy="uniform")`: bin b holds (b/10, (b+1)/10], the first also 0)
//! and the expected calibration error over the same bins.

pub const BINS: usize = 10;

/// One non-empty bin of the reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReliabilityBin {
    /// Lower and upper edge.
    pub range: (f64, f64),
    pub count: usize,
    /// Mean predicted probability in the bin.
    pub mean_probability: f64,
    /// Fraction of the bin's images that are positive.
    pub fraction_positive: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    pub bins: Vec<ReliabilityBin>,
    /// Sum over bins of (share of images) x |fraction positive - mean probability|.
    pub expected_calibration_error: f64,
}

/// The bin of a probability, as `np.searchsorted(inner_edges, p)` puts it.
fn bin_of(p: f64) -> usize {
    (1..BINS).filter(|&edge| (edge as f64 / BINS as f64) < p).count()
}

/// `None` for no images.
pub fn calibration(probabilities: &[f64], truth: &[bool]) -> Option<Calibration> {
    if probabilities.is_empty() {
        return None;
    }
    let mut sums = [(0usize, 0.0f64, 0usize); BINS];
    for (&p, &t) in probabilities.iter().zip(truth) {
        let bin = &mut sums[bin_of(p)];
        bin.0 += 1;
        bin.1 += p;
        bin.2 += usize::from(t);
    }
    let total = probabilities.len() as f64;
    let bins: Vec<ReliabilityBin> = sums
        .iter()
        .enumerate()
        .filter(|(_, (count, _, _))| *count > 0)
        .map(|(b, &(count, sum, positives))| ReliabilityBin {
            range: (b as f64 / BINS as f64, (b + 1) as f64 / BINS as f64),
            count,
            mean_probability: sum / count as f64,
            fraction_positive: positives as f64 / count as f64,
        })
        .collect();
    let expected_calibration_error = bins
        .iter()
        .map(|b| b.count as f64 / total * (b.fraction_positive - b.mean_probability).abs())
        .sum();
    Some(Calibration {
        bins,
        expected_calibration_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_belong_to_the_lower_bin() {
        assert_eq!(bin_of(0.0), 0);
        assert_eq!(bin_of(0.1), 0);
        assert_eq!(bin_of(0.1000001), 1);
        assert_eq!(bin_of(1.0), 9);
    }

    #[test]
    fn a_calibrated_bin_has_no_error() {
        let c = calibration(&[0.25, 0.25, 0.25, 0.25, 0.95], &[true, false, false, false, true]).unwrap();
        assert_eq!(c.bins.len(), 2);
        assert_eq!(c.bins[0].fraction_positive, 0.25);
        assert!((c.expected_calibration_error - 0.2 * 0.05).abs() < 1e-12);
    }
}
