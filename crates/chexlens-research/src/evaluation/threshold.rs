//! Operating points: what a threshold does (a finding at or above it, as
//! everywhere in chexlens) and how to pick one.

use std::fmt;
use std::str::FromStr;

/// Sensitivity, specificity, PPV and NPV at one threshold; `None` where the
/// denominator is empty.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OperatingPoint {
    pub threshold: f64,
    pub true_positives: usize,
    pub false_positives: usize,
    pub true_negatives: usize,
    pub false_negatives: usize,
    pub sensitivity: Option<f64>,
    pub specificity: Option<f64>,
    pub ppv: Option<f64>,
    pub npv: Option<f64>,
}

fn ratio(a: usize, b: usize) -> Option<f64> {
    (a + b > 0).then(|| a as f64 / (a + b) as f64)
}

impl OperatingPoint {
    pub fn at(threshold: f64, scores: &[f64], truth: &[bool]) -> Self {
        let (mut tp, mut fp, mut tn, mut fn_) = (0, 0, 0, 0);
        for (&s, &t) in scores.iter().zip(truth) {
            match (s >= threshold, t) {
                (true, true) => tp += 1,
                (true, false) => fp += 1,
                (false, false) => tn += 1,
                (false, true) => fn_ += 1,
            }
        }
        Self {
            threshold,
            true_positives: tp,
            false_positives: fp,
            true_negatives: tn,
            false_negatives: fn_,
            sensitivity: ratio(tp, fn_),
            specificity: ratio(tn, fp),
            ppv: ratio(tp, fp),
            npv: ratio(tn, fn_),
        }
    }
}

/// How `--pick` chooses each label's threshold among the scores seen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pick {
    /// The largest sensitivity + specificity - 1 (Youden's J); the higher
    /// threshold on a tie.
    Youden,
    /// The highest threshold whose sensitivity is at least this.
    Sensitivity(f64),
    /// The lowest threshold whose specificity is at least this.
    Specificity(f64),
}

impl Pick {
    /// The chosen threshold; `None` when no threshold meets the goal or a
    /// class is missing.
    pub fn choose(self, scores: &[f64], truth: &[bool]) -> Option<f64> {
        let mut candidates: Vec<f64> = scores.to_vec();
        candidates.sort_by(|a, b| b.total_cmp(a));
        candidates.dedup();
        let points = candidates.iter().map(|&t| OperatingPoint::at(t, scores, truth));
        match self {
            Pick::Youden => points
                .filter_map(|p| Some((p.sensitivity? + p.specificity? - 1.0, p.threshold)))
                .fold(None, |best: Option<(f64, f64)>, (j, t)| match best {
                    Some((bj, _)) if bj >= j => best,
                    _ => Some((j, t)),
                })
                .map(|(_, t)| t),
            Pick::Sensitivity(goal) => points
                .filter(|p| p.sensitivity.is_some_and(|s| s >= goal))
                .map(|p| p.threshold)
                .next(),
            Pick::Specificity(goal) => points
                .filter(|p| p.specificity.is_some_and(|s| s >= goal))
                .map(|p| p.threshold)
                .next_back(),
        }
    }
}

impl FromStr for Pick {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let goal = |v: &str| match v.parse::<f64>() {
            Ok(g) if (0.0..=1.0).contains(&g) => Ok(g),
            _ => Err(format!("'{v}' is not a rate between 0 and 1")),
        };
        match s.trim().split_once('=') {
            None if s.trim() == "youden" => Ok(Pick::Youden),
            Some(("sensitivity", v)) => goal(v).map(Pick::Sensitivity),
            Some(("specificity", v)) => goal(v).map(Pick::Specificity),
            _ => Err(format!(
                "'{s}' is not a rule; use youden, sensitivity=0.9 or specificity=0.9"
            )),
        }
    }
}

impl fmt::Display for Pick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pick::Youden => write!(f, "youden"),
            Pick::Sensitivity(g) => write!(f, "sensitivity={g}"),
            Pick::Specificity(g) => write!(f, "specificity={g}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCORES: [f64; 6] = [0.9, 0.8, 0.7, 0.4, 0.3, 0.1];
    const TRUTH: [bool; 6] = [true, true, false, true, false, false];

    #[test]
    fn counts_at_a_threshold() {
        let p = OperatingPoint::at(0.7, &SCORES, &TRUTH);
        assert_eq!(
            (p.true_positives, p.false_positives, p.true_negatives, p.false_negatives),
            (2, 1, 2, 1)
        );
        assert_eq!(p.sensitivity, Some(2.0 / 3.0));
        assert_eq!(p.ppv, Some(2.0 / 3.0));
    }

    #[test]
    fn picks_as_documented() {
        // J: 0.8 -> 2/3, 0.4 -> 2/3 (sens 1, spec 2/3): the higher wins.
        assert_eq!(Pick::Youden.choose(&SCORES, &TRUTH), Some(0.8));
        assert_eq!(Pick::Sensitivity(1.0).choose(&SCORES, &TRUTH), Some(0.4));
        assert_eq!(Pick::Specificity(1.0).choose(&SCORES, &TRUTH), Some(0.8));
        assert_eq!("sensitivity=0.9".parse::<Pick>(), Ok(Pick::Sensitivity(0.9)));
        assert!("sensitivity=2".parse::<Pick>().is_err());
        assert!("best".parse::<Pick>().is_err());
    }
}
