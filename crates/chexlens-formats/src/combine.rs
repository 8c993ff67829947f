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

#[cfg(test)]
mod tests {
    use super::*;

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
