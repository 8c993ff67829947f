//! `chexlens predict`: probabilities and findings for each image.

use crate::model_source::LoadedModel;
use crate::output::{CamEntry, FindingEntry, PredictLine};
use chexlens_checkpoints::combine;
use chexlens_checkpoints::manifest::Thresholds;
use chexlens_chexpert::metadata::Metadata;
use chexlens_images::cam::{CamMap, OverlayBase};
use chexlens_images::faithfulness::Faithfulness;
use chexlens_images::image::XrayImage;
use chexlens_images::input::{DicomDetails, decode_xray_frame};
use chexlens_model::faithfulness::Scope;
use chexlens_model::gradcam::CamSettings;
use chexlens_model::{Finding, Prediction, wait};
use chexlens_reference::assessment::{Assessment, assess_image};
use std::path::{Path, PathBuf};

/// One image file's analysis: the prediction and, when asked, heat maps by label.
pub struct AnalysedImage {
    pub image: XrayImage,
    /// The metadata the model was given (a DICOM's tags fill what flags leave open).
    pub metadata: Metadata,
    pub dicom: Option<DicomDetails>,
    pub prediction: Prediction,
    /// The method and layer of `cams`.
    pub cam_settings: CamSettings,
    pub cams: Vec<(String, CamMap)>,
    /// With `--cam-metrics`, each map's faithfulness, by label.
    pub faithfulness: Vec<(String, Faithfulness)>,
    /// Whether the image is one the model should answer for: the file's
    /// warnings, and the distance to the reference radiographs.
    pub assessment: Assessment,
    /// Each member's pooled features (what reference statistics are made of).
    pub member_features: Vec<Vec<f32>>,
}

/// Metadata given on the command line; `None` leaves the field to the
/// image's DICOM tags, then to the manifest's defaults.
#[derive(Clone, Copy, Default)]
pub struct MetadataFlags {
    pub sex: Option<chexlens_chexpert::metadata::Sex>,
    pub age: Option<Option<f32>>,
    pub view: Option<chexlens_chexpert::metadata::View>,
    pub projection: Option<chexlens_chexpert::metadata::Projection>,
}

impl MetadataFlags {
    fn resolve(&self, defaults: Metadata, dicom: Option<&DicomDetails>) -> Metadata {
        let base = dicom.map_or(defaults, |d| d.tags.apply_to(defaults));
        Metadata {
            sex: self.sex.unwrap_or(base.sex),
            age: self.age.unwrap_or(base.age),
            view: self.view.unwrap_or(base.view),
            projection: self.projection.unwrap_or(base.projection),
        }
    }
}

/// The heat maps asked for: for which labels, how, and whether measured.
#[derive(Clone, Copy)]
pub struct CamRequest {
    pub labels: CamLabels,
    pub settings: CamSettings,
    /// Each map's faithfulness (nine more passes of the ensemble per map).
    pub metrics: bool,
}

impl CamRequest {
    /// No heat maps.
    pub const NONE: Self = Self {
        labels: CamLabels::None,
        settings: CamSettings {
            method: chexlens_model::gradcam::CamMethod::GradCam,
            layer: chexlens_model::gradcam::CamLayer::Last,
        },
        metrics: false,
    };
}

/// Which labels get heat maps.
#[derive(Clone, Copy, PartialEq)]
pub enum CamLabels {
    None,
    Findings,
    All,
}

/// Analyses one image file (`frame`, from 0, of a multi-frame DICOM); the
/// error is a one-line message without the path.
pub fn analyse_file(
    model: &LoadedModel,
    path: &Path,
    frame: u32,
    flags: &MetadataFlags,
    thresholds: &Thresholds,
    cams: CamRequest,
) -> Result<AnalysedImage, String> {
    let bytes = crate::files::read_bounded(path, chexlens_images::image::MAX_FILE_BYTES).map_err(|e| e.to_string())?;
    let loaded = decode_xray_frame(&bytes, frame).map_err(|e| e.to_string())?;
    let ensemble = &model.ensemble;
    let metadata = flags.resolve(ensemble.settings.metadata.defaults, loaded.dicom.as_ref());
    let image = loaded.image;
    // The backbone runs once; the heat maps reuse its pass.
    let analysis = wait(ensemble.analyse(&image, &metadata)).map_err(|e| e.to_string())?;
    let assessment = assess_image(loaded.warnings, model.reference.as_ref(), &analysis.member_features)
        .map_err(|e| e.to_string())?;
    let prediction = &analysis.prediction;
    let indices: Vec<usize> = match cams.labels {
        CamLabels::None => Vec::new(),
        CamLabels::Findings => prediction.finding_indices(thresholds),
        CamLabels::All => (0..prediction.labels.len()).collect(),
    };
    let maps = wait(ensemble.heat_maps(&analysis, &indices, cams.settings)).map_err(|e| e.to_string())?;
    let mut faithfulness = Vec::new();
    if cams.metrics {
        for (&label, map) in indices.iter().zip(&maps) {
            let figures = wait(ensemble.faithfulness(&analysis, &metadata, label, Scope::Ensemble, map))
                .map_err(|e| e.to_string())?;
            faithfulness.push((prediction.labels[label].clone(), figures));
        }
    }
    let cam_settings = cams.settings;
    let cams = indices
        .iter()
        .map(|&i| prediction.labels[i].clone())
        .zip(maps)
        .collect();
    Ok(AnalysedImage {
        image,
        metadata,
        dicom: loaded.dicom,
        prediction: analysis.prediction,
        cam_settings,
        cams,
        faithfulness,
        assessment,
        member_features: analysis.member_features,
    })
}

/// Writes one overlay PNG per heat map, at the image's own resolution.
pub fn write_overlays(dir: &Path, image_path: &Path, analysis: &AnalysedImage) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {} ({e})", dir.display()))?;
    let stem = image_path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "image".into());
    let base = OverlayBase::new(&analysis.image, None);
    let mut written = Vec::new();
    for (label, map) in &analysis.cams {
        let path = dir.join(chexlens_images::cam::overlay_file_name(&stem, label));
        let png = base.overlay_png(map)?;
        std::fs::write(&path, png).map_err(|e| format!("cannot write {} ({e})", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

pub fn json_line(image: &Path, analysis: &AnalysedImage, findings: &[Finding], members: usize) -> String {
    let prediction = &analysis.prediction;
    let per_member = prediction.member_probabilities();
    let several = per_member.len() > 1;
    let line = PredictLine {
        image: image.display().to_string(),
        metadata: analysis.metadata,
        probabilities: prediction
            .labels
            .iter()
            .cloned()
            .zip(prediction.probabilities.iter().copied())
            .collect(),
        findings: findings
            .iter()
            .map(|f| FindingEntry {
                label: f.label.clone(),
                probability: f.probability,
                cam: analysis
                    .cams
                    .iter()
                    .find(|(l, _)| *l == f.label)
                    .map(|(_, map)| map.values.chunks(map.width).map(<[f32]>::to_vec).collect()),
                faithfulness: analysis
                    .faithfulness
                    .iter()
                    .find(|(l, _)| *l == f.label)
                    .map(|(_, figures)| figures.clone()),
            })
            .collect(),
        cam_maps: (!analysis.cams.is_empty()).then(|| CamEntry {
            method: analysis.cam_settings.method.name().into(),
            layer: analysis.cam_settings.layer.name().into(),
            caveat: analysis.cam_settings.method.caveat().map(str::to_string),
        }),
        members,
        // Each member's own probabilities, and where they are far apart.
        member_probabilities: several.then(|| {
            let label_column = |c: usize| per_member.iter().map(|m| m[c]).collect();
            prediction
                .labels
                .iter()
                .enumerate()
                .map(|(c, l)| (l.clone(), label_column(c)))
                .collect()
        }),
        members_disagree: several.then(|| {
            (0..prediction.labels.len())
                .filter(|&c| combine::members_disagree(&per_member, c))
                .map(|c| prediction.labels[c].clone())
                .collect()
        }),
        dicom: analysis.dicom.clone(),
        warnings: analysis.assessment.warnings.clone(),
        typicality: analysis.assessment.typicality.clone(),
    };
    // Through a Value, which holds every f32 as the f64 it is: a number is
    // printed with all its digits (0.10000000149011612, not 0.1), so that a
    // reader parsing f64 gets the model's value exactly.
    serde_json::to_value(&line).expect("a prediction is JSON").to_string()
}

/// What a DICOM file is and what it contributed, in the table's words.
fn dicom_lines(dicom: &DicomDetails) -> String {
    let mut out = format!("  {}\n", dicom.summary.describe());
    if !dicom.summary.windowing.is_empty() {
        out.push_str(&format!("  shown with {}\n", dicom.summary.windowing));
    }
    let given = dicom.tags.contributions();
    if !given.is_empty() {
        out.push_str(&format!("  from the file: {}\n", given.join(", ")));
    }
    for notice in &dicom.notices {
        out.push_str(&format!("  note: {notice}\n"));
    }
    out
}

pub fn table(image: &Path, analysis: &AnalysedImage, thresholds: &Thresholds) -> String {
    let prediction = &analysis.prediction;
    let per_member = prediction.member_probabilities();
    let mut rows: Vec<(&String, f32, bool)> = prediction
        .labels
        .iter()
        .zip(prediction.probabilities.iter().copied())
        .enumerate()
        .map(|(c, (l, p))| (l, p, combine::members_disagree(&per_member, c)))
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    let width = rows.iter().map(|(l, _, _)| l.len()).max().unwrap_or(0);
    let warnings = &analysis.assessment.warnings;
    let mut out = match warnings.len() {
        0 => format!("{}\n", image.display()),
        n => format!("{}  [{n} warning{}]\n", image.display(), if n == 1 { "" } else { "s" }),
    };
    for warning in warnings {
        out.push_str(&format!("  WARNING: {}\n", warning.message));
    }
    if let Some(dicom) = &analysis.dicom {
        out.push_str(&dicom_lines(dicom));
    }
    for (label, p, disagree) in rows {
        let mark = match (thresholds.is_finding(label, p), disagree) {
            (true, true) => "finding, members disagree",
            (true, false) => "finding",
            (false, true) => "members disagree",
            (false, false) => "",
        };
        let bar = "#".repeat((p * 20.0).round() as usize);
        out.push_str(&format!("  {label:<width$}  {p:.4}  {bar:<20}  {mark}\n"));
    }
    out.push_str(&faithfulness_lines(analysis));
    out
}

/// With `--cam-metrics`: each map's figures, and how to read them.
fn faithfulness_lines(analysis: &AnalysedImage) -> String {
    if analysis.faithfulness.is_empty() {
        return String::new();
    }
    let settings = analysis.cam_settings;
    let mut out = format!(
        "  faithfulness of the {} maps ({} layer): a faithful map keeps the score when the image is \
         multiplied by it, and loses probability faster when its most relevant pixels are removed\n",
        settings.method.title(),
        settings.layer.name()
    );
    for (label, f) in &analysis.faithfulness {
        let curve = |most: bool| {
            f.deletion
                .iter()
                .map(|d| {
                    format!(
                        "{:.3}",
                        if most {
                            d.most_relevant_removed
                        } else {
                            d.least_relevant_removed
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        out.push_str(&format!(
            "    {label}: confidence change {:+.4} (logit), probability {:.4} -> {:.4} multiplied; \
             20/40/60/80% removed, most relevant first: {}, least relevant first: {}\n",
            f.confidence_change,
            f.probability,
            f.multiplied_probability,
            curve(true),
            curve(false)
        ));
    }
    if let Some(caveat) = settings.method.caveat() {
        out.push_str(&format!("  note: {caveat}\n"));
    }
    out
}
