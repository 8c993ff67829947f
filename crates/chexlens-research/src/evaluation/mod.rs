//! A model's predictions scored against a labelled set: per label AUROC
//! with DeLong 95% intervals, AUPRC, the operating point at the label's
//! threshold and calibration; their mean AUROC over the labels that have
//! both classes. Pure data, so the CLI and the page score alike.

mod calibration;
pub mod plots;
mod predictions;
mod roc;
mod threshold;

pub use calibration::{BINS, Calibration, ReliabilityBin, calibration};
pub use predictions::{
    PredictionRow, Predictions, PredictionsError, predictions_header, predictions_line, provenance_comment,
};
pub use roc::{Auroc, RocPoint, auroc, average_precision, roc_curve};
pub use threshold::{OperatingPoint, Pick};

use crate::labelled::Label;
use chexlens_checkpoints::manifest::Thresholds;
use std::str::FromStr;

/// What an uncertain (-1) label counts as (the CheXpert paper's U-Ignore,
/// U-Zeros and U-Ones).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UncertainPolicy {
    /// Left out of that label's scoring.
    #[default]
    Ignore,
    Zeros,
    Ones,
}

impl UncertainPolicy {
    /// The truth a label gives under this policy; `None` leaves the image
    /// out of that label's scoring (blank labels always are).
    pub fn truth(self, label: Label) -> Option<bool> {
        match (label, self) {
            (Label::Positive, _) | (Label::Uncertain, Self::Ones) => Some(true),
            (Label::Negative, _) | (Label::Uncertain, Self::Zeros) => Some(false),
            (Label::Uncertain, Self::Ignore) | (Label::Missing, _) => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Ignore => "ignore",
            Self::Zeros => "zeros",
            Self::Ones => "ones",
        }
    }
}

impl FromStr for UncertainPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "ignore" => Ok(Self::Ignore),
            "zeros" => Ok(Self::Zeros),
            "ones" => Ok(Self::Ones),
            _ => Err(format!("'{s}' is not a policy; use ignore, zeros or ones")),
        }
    }
}

/// One label's scores.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelReport {
    pub label: String,
    pub positives: usize,
    pub negatives: usize,
    /// `None` unless both classes are present.
    pub auroc: Option<Auroc>,
    pub auprc: Option<f64>,
    pub operating_point: OperatingPoint,
    pub calibration: Option<Calibration>,
    pub roc: Vec<RocPoint>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub labels: Vec<LabelReport>,
    /// Mean AUROC over the labels with both classes.
    pub mean_auroc: Option<f64>,
    pub policy: UncertainPolicy,
}

/// Where each of `set_labels` is among the model's labels (the order of
/// its probabilities), for the labels the model has.
pub fn columns_of(set_labels: &[String], model_labels: &[String]) -> Vec<usize> {
    set_labels
        .iter()
        .filter_map(|l| model_labels.iter().position(|m| m == l))
        .collect()
}

/// One scored image: the model's probability and the CSV's label, per label.
pub struct Scored<'a> {
    pub probabilities: &'a [f32],
    pub labels: &'a [Label],
}

/// Scores `images` for `labels` (the order both slices of each image use).
pub fn evaluate(labels: &[String], images: &[Scored], policy: UncertainPolicy, thresholds: &Thresholds) -> Evaluation {
    let reports: Vec<LabelReport> = labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let (scores, truth): (Vec<f64>, Vec<bool>) = images
                .iter()
                .filter_map(|image| Some((image.probabilities[i] as f64, policy.truth(image.labels[i])?)))
                .unzip();
            let positives = truth.iter().filter(|&&t| t).count();
            LabelReport {
                label: label.clone(),
                positives,
                negatives: truth.len() - positives,
                auroc: auroc(&scores, &truth),
                auprc: average_precision(&scores, &truth),
                operating_point: OperatingPoint::at(thresholds.for_label(label) as f64, &scores, &truth),
                calibration: calibration(&scores, &truth),
                roc: roc_curve(&scores, &truth),
            }
        })
        .collect();
    let scored: Vec<f64> = reports.iter().filter_map(|r| Some(r.auroc?.value)).collect();
    Evaluation {
        mean_auroc: (!scored.is_empty()).then(|| scored.iter().sum::<f64>() / scored.len() as f64),
        labels: reports,
        policy,
    }
}

/// [`evaluate`] on owned rows: each image's probabilities (in `labels`
/// order) and its labels.
pub fn evaluate_rows(
    labels: &[String],
    rows: &[(Vec<f32>, Vec<Label>)],
    policy: UncertainPolicy,
    thresholds: &Thresholds,
) -> Evaluation {
    let scored: Vec<Scored> = rows
        .iter()
        .map(|(p, l)| Scored {
            probabilities: p,
            labels: l,
        })
        .collect();
    evaluate(labels, &scored, policy, thresholds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncertain_labels_follow_the_policy_and_blanks_never_count() {
        let labels = vec!["A".to_string(), "B".to_string()];
        let rows = [
            ([0.9f32, 0.2], [Label::Positive, Label::Uncertain]),
            ([0.4, 0.7], [Label::Negative, Label::Positive]),
            ([0.6, 0.1], [Label::Uncertain, Label::Negative]),
            ([0.2, 0.8], [Label::Missing, Label::Negative]),
        ];
        let images: Vec<Scored> = rows
            .iter()
            .map(|(p, l)| Scored {
                probabilities: p,
                labels: l,
            })
            .collect();
        let t = Thresholds::default();
        let ignore = evaluate(&labels, &images, UncertainPolicy::Ignore, &t);
        assert_eq!((ignore.labels[0].positives, ignore.labels[0].negatives), (1, 1));
        assert_eq!((ignore.labels[1].positives, ignore.labels[1].negatives), (1, 2));
        let ones = evaluate(&labels, &images, UncertainPolicy::Ones, &t);
        assert_eq!((ones.labels[0].positives, ones.labels[0].negatives), (2, 1));
        let zeros = evaluate(&labels, &images, UncertainPolicy::Zeros, &t);
        assert_eq!((zeros.labels[1].positives, zeros.labels[1].negatives), (1, 3));
        // B under ignore: 0.7 positive against 0.1 and 0.8 negative: AUROC 1/2.
        assert_eq!(ignore.labels[1].auroc.unwrap().value, 0.5);
        assert_eq!(ignore.mean_auroc, Some((1.0 + 0.5) / 2.0));
    }
}
