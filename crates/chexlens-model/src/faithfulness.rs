//! Runs the faithfulness measures of a heat map (the perturbations and the
//! figures are `chexlens_images::faithfulness`'s): on an ensemble here, or
//! through any runner (the page's member workers) with [`measure`].

use chexlens_checkpoints::combine::{CombineRule, sigmoid};
use chexlens_images::cam::CamMap;
use chexlens_images::faithfulness::{Faithfulness, Perturbation, Ranking, Score};
use serde::{Deserialize, Serialize};
use std::future::Future;

/// Whose map is measured, and whose score: one member's or the ensemble's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Member(usize),
    Ensemble,
}

impl Scope {
    /// The members whose logits make the score, of `members`.
    pub fn members(self, members: usize) -> std::ops::Range<usize> {
        match self {
            Self::Member(i) => i..i + 1,
            Self::Ensemble => 0..members,
        }
    }
}

/// The label's score from the logits of the members in scope: a member's
/// logit, or the ensemble's combined probability and its logit.
pub fn score(rule: CombineRule, logits: &[Vec<f32>], label: usize) -> Score {
    if let [member] = logits {
        return Score {
            logit: member[label],
            probability: sigmoid(member[label]),
        };
    }
    let probability = rule.combine(logits)[label];
    let p = probability as f64;
    Score {
        logit: (p / (1.0 - p)).ln() as f32,
        probability,
    }
}

/// `map`'s figures for `label`, the map upsampled to the input's size
/// (`CamMap::upsampled`, as pytorch-grad-cam's are). `pixels` is the
/// normalised input `[3, size, size]`, `original` the in-scope members'
/// logits on it, and `run` gives their logits on a perturbed input (nine
/// runs, in order; a runner can count them for its progress).
pub async fn measure<E, F, Fut>(
    pixels: &[f32],
    map: CamMap,
    label: usize,
    rule: CombineRule,
    original: &[Vec<f32>],
    mut run: F,
) -> Result<Faithfulness, E>
where
    F: FnMut(Vec<f32>) -> Fut,
    Fut: Future<Output = Result<Vec<Vec<f32>>, E>>,
{
    let ranking = Ranking::new(map);
    let mut scores = Vec::new();
    for perturbation in Perturbation::all() {
        let logits = run(ranking.perturbed(pixels, perturbation)).await?;
        scores.push(score(rule, &logits, label));
    }
    Ok(Faithfulness::from_scores(score(rule, original, label), &scores))
}
