//! How the members' outputs become the ensemble's probability.

use serde::{Deserialize, Serialize};

/// How member outputs become the ensemble's probability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CombineRule {
    /// Mean of the members' sigmoid probabilities (the published ensemble's rule).
    #[default]
    MeanProbability,
    /// Sigmoid of the mean logit.
    MeanLogit,
}

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl CombineRule {
    /// Combines per-member logits (`members x classes`) into probabilities.
    pub fn combine(self, member_logits: &[Vec<f32>]) -> Vec<f32> {
        let n = member_logits.len() as f32;
        let classes = member_logits.first().map_or(0, Vec::len);
        (0..classes)
            .map(|c| match self {
                Self::MeanProbability => member_logits.iter().map(|m| sigmoid(m[c])).sum::<f32>() / n,
                Self::MeanLogit => sigmoid(member_logits.iter().map(|m| m[c]).sum::<f32>() / n),
            })
            .collect()
    }
}

/// The members "disagree" on a label when their probabilities for it span
/// at least this much (highest minus lowest): a quarter of the scale, so
/// that around the default threshold of 0.55 members this far apart can
/// fall on both sides of it while the ensemble's mean sits on one.
pub const DISAGREEMENT_SPREAD: f32 = 0.25;

/// Each member's own probability per label (`members x classes`): the
/// sigmoid of its logits, whatever the combine rule.
pub fn member_probabilities(member_logits: &[Vec<f32>]) -> Vec<Vec<f32>> {
    member_logits
        .iter()
        .map(|logits| logits.iter().map(|&x| sigmoid(x)).collect())
        .collect()
}

/// How far apart the members' probabilities are for label `class` (0 for one member).
pub fn spread(member_probabilities: &[Vec<f32>], class: usize) -> f32 {
    let values = member_probabilities.iter().filter_map(|m| m.get(class).copied());
    let (low, high) = values.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), p| (lo.min(p), hi.max(p)));
    if high >= low { high - low } else { 0.0 }
}

/// Whether the members disagree on label `class` (see [`DISAGREEMENT_SPREAD`]).
pub fn members_disagree(member_probabilities: &[Vec<f32>], class: usize) -> bool {
    spread(member_probabilities, class) >= DISAGREEMENT_SPREAD
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_probabilities_and_their_spread() {
        let logits = vec![vec![0.0, 2.0], vec![0.0, -2.0], vec![0.5, 1.0]];
        let p = member_probabilities(&logits);
        assert_eq!(p[1][1], sigmoid(-2.0));
        assert!((spread(&p, 0) - (sigmoid(0.5) - 0.5)).abs() < 1e-7);
        assert!(!members_disagree(&p, 0));
        assert!((spread(&p, 1) - (sigmoid(2.0) - sigmoid(-2.0))).abs() < 1e-7);
        assert!(members_disagree(&p, 1));
        assert_eq!(spread(&p[..1], 1), 0.0);
    }

    #[test]
    fn combine_rules_differ_as_documented() {
        let logits = vec![vec![0.0, 4.0], vec![2.0, -4.0]];
        let mean_p = CombineRule::MeanProbability.combine(&logits);
        assert!((mean_p[0] - (0.5 + sigmoid(2.0)) / 2.0).abs() < 1e-7);
        assert!((mean_p[1] - 0.5).abs() < 1e-6);
        let mean_l = CombineRule::MeanLogit.combine(&logits);
        assert!((mean_l[0] - sigmoid(1.0)).abs() < 1e-7);
    }
}
