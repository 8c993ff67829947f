//! `chexlens predict`: probabilities and findings for each image.

use crate::model_source::LoadedModel;
use chexlens_model::gradcam::{CamMap, CamTarget, overlay};
use chexlens_model::{Finding, Metadata, Prediction, Thresholds, XrayImage, decode_image};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// One image's analysis: the prediction and, when asked, heat maps by label.
pub struct Analysis {
    pub image: XrayImage,
    pub prediction: Prediction,
    pub cams: Vec<(String, CamMap)>,
}

/// Which labels get heat maps.
#[derive(Clone, Copy, PartialEq)]
pub enum CamLabels {
    None,
    Findings,
    All,
}

/// Analyses one image file; the error is a one-line message without the path.
pub fn analyse_file(
    model: &LoadedModel,
    path: &Path,
    metadata: &Metadata,
    thresholds: &Thresholds,
    cam_labels: CamLabels,
) -> Result<Analysis, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the file ({e})"))?;
    let image = decode_image(&bytes).map_err(|e| e.to_string())?;
    let ensemble = &model.ensemble;
    let (images, meta) = ensemble.inputs(&image, metadata);
    // The backbone runs once; Grad-CAM reuses its states.
    let states = ensemble.backbone_states(&images);
    let prediction = ensemble.predict_states(&states, &meta);
    let labels: Vec<String> = match cam_labels {
        CamLabels::None => Vec::new(),
        CamLabels::Findings => prediction.findings(thresholds).into_iter().map(|f| f.label).collect(),
        CamLabels::All => prediction.labels.clone(),
    };
    let indices: Vec<usize> = labels
        .iter()
        .filter_map(|l| prediction.labels.iter().position(|p| p == l))
        .collect();
    let maps = ensemble.grad_cam(&states, &meta, &indices, CamTarget::default());
    Ok(Analysis {
        image,
        prediction,
        cams: labels.into_iter().zip(maps).collect(),
    })
}

/// Writes one overlay PNG per heat map, at the image's own resolution.
pub fn write_overlays(dir: &Path, image_path: &Path, analysis: &Analysis) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {} ({e})", dir.display()))?;
    let stem = image_path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "image".into());
    let (w, h) = (analysis.image.width, analysis.image.height);
    let rgb: Vec<u8> = analysis
        .image
        .to_rgba()
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    let mut written = Vec::new();
    for (label, map) in &analysis.cams {
        let pixels = overlay(&rgb, &map.upsampled(w, h), 0.5);
        let slug: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!("{stem}_{slug}.png"));
        image::save_buffer(&path, &pixels, w as u32, h as u32, image::ExtendedColorType::Rgb8)
            .map_err(|e| format!("cannot write {} ({e})", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

pub fn json_line(image: &Path, analysis: &Analysis, findings: &[Finding], members: usize) -> String {
    let prediction = &analysis.prediction;
    let probabilities: Map<String, Value> = prediction
        .labels
        .iter()
        .zip(&prediction.probabilities)
        .map(|(l, &p)| (l.clone(), json!(p)))
        .collect();
    json!({
        "image": image.display().to_string(),
        "probabilities": probabilities,
        "findings": findings.iter().map(|f| {
            let mut entry = json!({"label": f.label, "probability": f.probability});
            if let Some((_, map)) = analysis.cams.iter().find(|(l, _)| *l == f.label) {
                let rows: Vec<&[f32]> = map.values.chunks(map.width).collect();
                entry["cam"] = json!(rows);
            }
            entry
        }).collect::<Vec<_>>(),
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
