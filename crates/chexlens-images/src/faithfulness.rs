//! How faithful a heat map is to the model, by perturbing its input and
//! asking again. Pure data: the inputs to run and the figures made of the
//! scores that come back; running them is the model's (chexlens-model's
//! `faithfulness`), so the page's worker and the CLI share both halves.
//!
//! - pytorch-grad-cam's `CamMultImageConfidenceChange`: the normalised
//!   input multiplied by the map (upsampled to the input, in [0, 1]); the
//!   label's score (its logit, `ClassifierOutputTarget`) after, less
//!   before. A faithful map keeps the score: near zero or positive.
//! - A deletion curve: the label's probability with the 20/40/60/80% most
//!   relevant input pixels replaced by the image's mean, and the same for
//!   the least relevant. A faithful map's most-relevant curve falls faster
//!   than its least-relevant one. The replacement is the mean, not ROAD's
//!   random imputation, so the figures repeat exactly.

use crate::cam::CamMap;
use serde::{Deserialize, Serialize};

/// The shares of the input's pixels removed, in percent.
pub const DELETED_PERCENT: [usize; 4] = [20, 40, 60, 80];

/// One perturbed input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perturbation {
    MultipliedByMap,
    MostRelevantRemoved(usize),
    LeastRelevantRemoved(usize),
}

impl Perturbation {
    /// Every perturbation, in the order `Faithfulness::from_scores` takes their scores.
    pub fn all() -> Vec<Self> {
        let mut all = vec![Self::MultipliedByMap];
        all.extend(DELETED_PERCENT.map(Self::MostRelevantRemoved));
        all.extend(DELETED_PERCENT.map(Self::LeastRelevantRemoved));
        all
    }
}

/// A map at the input's size with its pixels ranked by relevance, most
/// relevant first; ties keep pixel order (a stable sort, as the generator's).
pub struct Ranking {
    map: CamMap,
    order: Vec<u32>,
}

impl Ranking {
    /// `map` must be the input's size (`CamMap::upsampled` to it).
    pub fn new(map: CamMap) -> Self {
        let mut order: Vec<u32> = (0..map.values.len() as u32).collect();
        // partial_cmp, not total_cmp: -0.0 and 0.0 tie, as in numpy.
        order.sort_by(|&a, &b| {
            let (a, b) = (map.values[a as usize], map.values[b as usize]);
            b.partial_cmp(&a).unwrap_or(std::cmp::Ordering::Equal)
        });
        Self { map, order }
    }

    /// `pixels` (`[3, H, W]`, normalised, the map's size) perturbed.
    pub fn perturbed(&self, pixels: &[f32], perturbation: Perturbation) -> Vec<f32> {
        let plane = self.map.values.len();
        let mut out = pixels.to_vec();
        match perturbation {
            Perturbation::MultipliedByMap => {
                for channel in out.chunks_exact_mut(plane) {
                    channel.iter_mut().zip(&self.map.values).for_each(|(p, m)| *p *= m);
                }
            }
            Perturbation::MostRelevantRemoved(percent) | Perturbation::LeastRelevantRemoved(percent) => {
                let count = plane * percent / 100;
                let removed: &mut dyn Iterator<Item = &u32> = match perturbation {
                    Perturbation::MostRelevantRemoved(_) => &mut self.order[..count].iter(),
                    _ => &mut self.order[plane - count..].iter(),
                };
                let removed: Vec<usize> = removed.map(|&i| i as usize).collect();
                for channel in out.chunks_exact_mut(plane) {
                    let mean = (channel.iter().map(|&v| v as f64).sum::<f64>() / plane as f64) as f32;
                    removed.iter().for_each(|&i| channel[i] = mean);
                }
            }
        }
        out
    }
}

/// A label's score from one run: its logit (the ensemble's: the logit of
/// its combined probability) and its probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    pub logit: f32,
    pub probability: f32,
}

/// The probabilities with a share of the pixels removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DeletionPoint {
    pub percent: usize,
    pub most_relevant_removed: f32,
    pub least_relevant_removed: f32,
}

/// A map's faithfulness figures for one label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Faithfulness {
    /// The label's probability on the unperturbed input.
    pub probability: f32,
    /// pytorch-grad-cam's `CamMultImageConfidenceChange`: the logit on the
    /// input multiplied by the map, less the original logit.
    pub confidence_change: f32,
    /// The probability on the input multiplied by the map.
    pub multiplied_probability: f32,
    pub deletion: Vec<DeletionPoint>,
}

impl Faithfulness {
    /// From the original score and one per `Perturbation::all()`, in order.
    pub fn from_scores(original: Score, perturbed: &[Score]) -> Self {
        let n = DELETED_PERCENT.len();
        assert_eq!(perturbed.len(), 1 + 2 * n, "one score per perturbation");
        Self {
            probability: original.probability,
            confidence_change: perturbed[0].logit - original.logit,
            multiplied_probability: perturbed[0].probability,
            deletion: DELETED_PERCENT
                .iter()
                .enumerate()
                .map(|(i, &percent)| DeletionPoint {
                    percent,
                    most_relevant_removed: perturbed[1 + i].probability,
                    least_relevant_removed: perturbed[1 + n + i].probability,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perturbations_follow_the_ranking() {
        let map = CamMap {
            width: 5,
            height: 2,
            values: vec![0.9, 0.1, 0.5, 0.5, 0.0, 1.0, 0.2, 0.0, 0.3, 0.4],
        };
        let pixels: Vec<f32> = (0..30).map(|i| i as f32).collect();
        let ranking = Ranking::new(map.clone());
        assert_eq!(ranking.order, [5, 0, 2, 3, 9, 8, 6, 1, 4, 7]);
        let multiplied = ranking.perturbed(&pixels, Perturbation::MultipliedByMap);
        assert_eq!(multiplied[10 + 2], 12.0 * 0.5);
        // 20% of 10 pixels: the two most relevant (5, 0) or least (4, 7),
        // set to each channel's mean.
        let most = ranking.perturbed(&pixels, Perturbation::MostRelevantRemoved(20));
        let least = ranking.perturbed(&pixels, Perturbation::LeastRelevantRemoved(20));
        for c in 0..3 {
            let mean = 4.5 + 10.0 * c as f32;
            let channel = |v: &[f32]| v[c * 10..(c + 1) * 10].to_vec();
            let changed = |v: &[f32]| {
                channel(v)
                    .iter()
                    .enumerate()
                    .filter(|(i, x)| **x != (c * 10 + i) as f32)
                    .map(|(i, x)| (i, *x))
                    .collect::<Vec<_>>()
            };
            assert_eq!(changed(&most), [(0, mean), (5, mean)]);
            assert_eq!(changed(&least), [(4, mean), (7, mean)]);
        }
    }
}
