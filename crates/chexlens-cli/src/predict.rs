//! `chexlens predict`: probabilities and findings for each image.

use crate::model_source::LoadedModel;
use chexlens_model::{Finding, Metadata, Prediction, Thresholds, decode_image};
use serde_json::{Map, Value, json};
use std::path::Path;

/// Analyses one image file; the error is a one-line message without the path.
pub fn predict_file(
    model: &LoadedModel,
    path: &Path,
    metadata: &Metadata,
) -> Result<Prediction, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the file ({e})"))?;
    let image = decode_image(&bytes).map_err(|e| e.to_string())?;
    Ok(model.ensemble.predict(&image, metadata))
}

pub fn json_line(
    image: &Path,
    prediction: &Prediction,
    findings: &[Finding],
    members: usize,
) -> String {
    let probabilities: Map<String, Value> = prediction
        .labels
        .iter()
        .zip(&prediction.probabilities)
        .map(|(l, &p)| (l.clone(), json!(p)))
        .collect();
    json!({
        "image": image.display().to_string(),
        "probabilities": probabilities,
        "findings": findings,
        "members": members,
    })
    .to_string()
}

pub fn table(image: &Path, prediction: &Prediction, thresholds: &Thresholds) -> String {
    let mut rows: Vec<(&String, f32)> = prediction
        .labels
        .iter()
        .zip(prediction.probabilities.iter().copied())
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    let width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    let mut out = format!("{}\n", image.display());
    for (label, p) in rows {
        let threshold = thresholds.for_label(label);
        let mark = if p >= threshold { "finding" } else { "" };
        let bar = "#".repeat((p * 20.0).round() as usize);
        out.push_str(&format!("  {label:<width$}  {p:.4}  {bar:<20}  {mark}\n"));
    }
    out
}
