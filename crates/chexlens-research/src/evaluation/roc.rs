//! Ranking metrics of scores against binary truth: AUROC (with ties, as
//! scikit-learn's `roc_auc_score`), its variance by DeLong's method
//! (DeLong, DeLong & Clarke-Pearson 1988, in Sun & Xu's 2014 midrank form),
//! the ROC curve, and average precision (scikit-learn's
//! `average_precision_score`, the AUPRC it reports).

/// The area under the ROC curve and its DeLong 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Auroc {
    pub value: f64,
    /// DeLong's standard error.
    pub std_error: f64,
    /// value ± 1.96 standard errors, clipped to [0, 1].
    pub ci95: (f64, f64),
}

/// The normal quantile for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// 1-based midranks of `values` among themselves (ties share the mean rank).
fn midranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        // Positions i..=j (0-based) share the mean of ranks i+1..=j+1.
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    ranks
}

fn sample_variance(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    if values.len() < 2 {
        return 0.0;
    }
    let mean = values.iter().sum::<f64>() / n;
    values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0)
}

/// AUROC of `scores` for `truth`; `None` unless both classes are present.
pub fn auroc(scores: &[f64], truth: &[bool]) -> Option<Auroc> {
    let class = |positive: bool| -> Vec<f64> {
        scores
            .iter()
            .zip(truth)
            .filter(|&(_, &t)| t == positive)
            .map(|(&s, _)| s)
            .collect()
    };
    let (positives, negatives) = (class(true), class(false));
    let (m, n) = (positives.len(), negatives.len());
    if m == 0 || n == 0 {
        return None;
    }
    let all: Vec<f64> = positives.iter().chain(&negatives).copied().collect();
    let (tx, ty, tz) = (midranks(&positives), midranks(&negatives), midranks(&all));
    // Each positive's share of negatives it outranks (ties count half), and
    // each negative's share of positives that outrank it.
    let v10: Vec<f64> = (0..m).map(|i| (tz[i] - tx[i]) / n as f64).collect();
    let v01: Vec<f64> = (0..n).map(|j| 1.0 - (tz[m + j] - ty[j]) / m as f64).collect();
    let value = v10.iter().sum::<f64>() / m as f64;
    let variance = sample_variance(&v10) / m as f64 + sample_variance(&v01) / n as f64;
    let std_error = variance.max(0.0).sqrt();
    Some(Auroc {
        value,
        std_error,
        ci95: ((value - Z95 * std_error).max(0.0), (value + Z95 * std_error).min(1.0)),
    })
}

/// Counts at one threshold of a descending sweep.
struct Step {
    threshold: f64,
    true_positives: usize,
    false_positives: usize,
}

/// The sweep over every distinct score, highest first: at each, how many
/// positives and negatives score at or above it.
fn sweep(scores: &[f64], truth: &[bool]) -> Vec<Step> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut steps: Vec<Step> = Vec::new();
    let (mut tp, mut fp) = (0, 0);
    for (k, &i) in order.iter().enumerate() {
        if truth[i] {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_tie = order.get(k + 1).is_none_or(|&next| scores[next] != scores[i]);
        if last_of_tie {
            steps.push(Step {
                threshold: scores[i],
                true_positives: tp,
                false_positives: fp,
            });
        }
    }
    steps
}

/// One point of a ROC curve: predicted positive when score >= threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RocPoint {
    pub threshold: f64,
    pub false_positive_rate: f64,
    pub true_positive_rate: f64,
}

/// The ROC curve from (0, 0) (threshold +inf) through every distinct
/// score, as scikit-learn's `roc_curve(drop_intermediate=False)`.
pub fn roc_curve(scores: &[f64], truth: &[bool]) -> Vec<RocPoint> {
    let p = truth.iter().filter(|&&t| t).count() as f64;
    let n = truth.len() as f64 - p;
    let rate = |count: usize, of: f64| if of > 0.0 { count as f64 / of } else { f64::NAN };
    std::iter::once(RocPoint {
        threshold: f64::INFINITY,
        false_positive_rate: 0.0,
        true_positive_rate: 0.0,
    })
    .chain(sweep(scores, truth).into_iter().map(|s| RocPoint {
        threshold: s.threshold,
        false_positive_rate: rate(s.false_positives, n),
        true_positive_rate: rate(s.true_positives, p),
    }))
    .collect()
}

/// Average precision: sum over thresholds of (recall step) x precision;
/// `None` without positives.
pub fn average_precision(scores: &[f64], truth: &[bool]) -> Option<f64> {
    let p = truth.iter().filter(|&&t| t).count();
    if p == 0 {
        return None;
    }
    let mut previous_recall = 0.0;
    let mut ap = 0.0;
    for s in sweep(scores, truth) {
        let recall = s.true_positives as f64 / p as f64;
        let precision = s.true_positives as f64 / (s.true_positives + s.false_positives) as f64;
        ap += (recall - previous_recall) * precision;
        previous_recall = recall;
    }
    Some(ap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midranks_share_ties() {
        assert_eq!(midranks(&[0.3, 0.1, 0.3, 0.2]), [3.5, 1.0, 3.5, 2.0]);
    }

    #[test]
    fn perfect_chance_and_tied_rankings() {
        let truth = [true, true, false, false];
        assert_eq!(auroc(&[0.9, 0.8, 0.2, 0.1], &truth).unwrap().value, 1.0);
        assert_eq!(auroc(&[0.1, 0.2, 0.8, 0.9], &truth).unwrap().value, 0.0);
        assert_eq!(auroc(&[0.5; 4], &truth).unwrap().value, 0.5);
        assert!(auroc(&[0.5, 0.6], &[true, true]).is_none());
        assert_eq!(average_precision(&[0.9, 0.8, 0.2, 0.1], &truth), Some(1.0));
        let curve = roc_curve(&[0.9, 0.8, 0.2, 0.1], &truth);
        assert_eq!(curve.len(), 5);
        assert_eq!((curve[2].false_positive_rate, curve[2].true_positive_rate), (0.0, 1.0));
    }
}
