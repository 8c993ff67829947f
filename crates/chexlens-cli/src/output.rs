//! What `--json` prints, as types: one [`PredictLine`] per image from
//! `predict`, one [`EvaluateReport`] from `evaluate`. Their doc comments are
//! the documentation people read in the JSON Schemas (`chexlens schema`,
//! committed under docs/schema), so the output, the schema and the docs
//! cannot drift apart.

use chexlens_chexpert::metadata::Metadata;
use chexlens_images::faithfulness::Faithfulness;
use chexlens_images::input::DicomDetails;
use chexlens_images::suitability::Warning;
use chexlens_reference::statistics::Typicality;
use schemars::JsonSchema;
use serde::Serialize;

/// Label name to value, in the model's label order (a JSON object keeps it).
pub type ByLabel<T> = indexmap::IndexMap<String, T>;

/// One line of `chexlens predict --json`: one image's result.
#[derive(Serialize, JsonSchema)]
pub struct PredictLine {
    /// The image's path, as given or as found in a folder.
    pub image: String,
    /// The patient metadata the model was given: flags first, then the
    /// DICOM file's tags, then the manifest's defaults.
    pub metadata: Metadata,
    /// Every label's ensemble probability, in the model's label order.
    pub probabilities: ByLabel<f32>,
    /// The labels at or above their threshold, most probable first.
    pub findings: Vec<FindingEntry>,
    /// The method and layer of the findings' heat maps, when they have any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cam_maps: Option<CamEntry>,
    /// How many members the ensemble has.
    pub members: usize,
    /// Each member's probability for every label (ensembles of two or more).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_probabilities: Option<ByLabel<Vec<f32>>>,
    /// Labels on which the members' probabilities span 0.25 or more
    /// (highest minus lowest); present with `member_probabilities`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members_disagree: Option<Vec<String>>,
    /// What the DICOM file is and what its tags gave (DICOM files only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dicom: Option<DicomDetails>,
    /// Reasons the image may not be a chest radiograph the model can
    /// answer for (a CT, a photograph, features unlike the reference
    /// radiographs); empty when there are none. `--strict` refuses such images.
    pub warnings: Vec<Warning>,
    /// The distance of the image's features to the model's reference
    /// radiographs; null when the model has no reference statistics.
    pub typicality: Option<Typicality>,
}

/// A label at or above its threshold.
#[derive(Serialize, JsonSchema)]
pub struct FindingEntry {
    pub label: String,
    /// The ensemble's probability.
    pub probability: f32,
    /// The label's Grad-CAM heat map at the target layer's own resolution:
    /// rows of values in [0, 1], top row first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cam: Option<Vec<Vec<f32>>>,
    /// With --cam-metrics, how faithful the map is to the model: the
    /// confidence change on the image multiplied by the map
    /// (pytorch-grad-cam's CamMultImageConfidenceChange, in logits) and the
    /// probability with the most and the least relevant pixels removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub faithfulness: Option<Faithfulness>,
}

/// Which heat maps the findings carry.
#[derive(Serialize, JsonSchema)]
pub struct CamEntry {
    /// The method, as --cam-method names it (gradcam, layercam, ...).
    pub method: String,
    /// The layer, as --cam-layer names it (last or stages_2).
    pub layer: String,
    /// What a reader must know about these maps, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caveat: Option<String>,
}

/// `chexlens evaluate --json`: the scores of one run on a labelled set.
#[derive(Serialize, JsonSchema)]
pub struct EvaluateReport {
    /// The labels CSV the set came from.
    pub labels_csv: String,
    /// `K/N` when this run was shard K of N, else null.
    pub shard: Option<String>,
    /// Images that were analysed and have labels.
    pub images_scored: usize,
    /// Rows of the labels CSV (of this shard).
    pub images_in_set: usize,
    /// How uncertain (-1) labels were counted: `ignore`, `ones` or `zeros`.
    pub uncertain: String,
    /// How the AUROC confidence intervals were computed.
    pub ci_method: String,
    /// Mean AUROC over the labels with both classes present; null if none.
    pub mean_auroc: Option<f64>,
    /// Each label of the set that the model predicts, in the model's order.
    pub labels: Vec<LabelScores>,
    /// Images that could not be scored, and why.
    pub skipped: Vec<SkippedImage>,
    /// With `--pick`: the threshold picked for each label (null where the
    /// set does not allow one, e.g. a label without both classes).
    pub picked_thresholds: Option<ByLabel<Option<f64>>>,
}

/// One label's scores.
#[derive(Serialize, JsonSchema)]
pub struct LabelScores {
    pub label: String,
    pub positives: usize,
    pub negatives: usize,
    /// Area under the ROC curve; null unless both classes are present.
    pub auroc: Option<f64>,
    /// DeLong's 95% interval, clipped to [0, 1].
    pub auroc_ci95: Option<[f64; 2]>,
    /// DeLong's standard error.
    pub auroc_std_error: Option<f64>,
    /// Area under the precision-recall curve (average precision).
    pub auprc: Option<f64>,
    /// The threshold the operating point is taken at.
    pub threshold: f64,
    /// Null where its denominator is zero; so are the next three.
    pub sensitivity: Option<f64>,
    pub specificity: Option<f64>,
    /// Positive predictive value.
    pub ppv: Option<f64>,
    /// Negative predictive value.
    pub npv: Option<f64>,
    pub confusion: Confusion,
    /// Expected calibration error over 10 equal-width bins; null without images.
    pub ece: Option<f64>,
    /// The reliability diagram's bins; null without images.
    pub reliability: Option<Vec<ReliabilityBin>>,
}

/// Counts at the threshold.
#[derive(Serialize, JsonSchema)]
pub struct Confusion {
    pub tp: usize,
    pub fp: usize,
    pub tn: usize,
    #[serde(rename = "fn")]
    pub false_negatives: usize,
}

/// One bin of the reliability diagram.
#[derive(Serialize, JsonSchema)]
pub struct ReliabilityBin {
    /// Lower and upper edge.
    pub range: [f64; 2],
    pub count: usize,
    /// Mean predicted probability in the bin.
    pub mean_probability: f64,
    /// Fraction of the bin's images that are positive.
    pub fraction_positive: f64,
}

/// An image that could not be scored.
#[derive(Clone, Serialize, JsonSchema)]
pub struct SkippedImage {
    pub path: String,
    /// Why, in the words the table prints.
    pub error: String,
}

/// The outputs a JSON Schema is published for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemaOf {
    /// A line of `predict --json`.
    Predict,
    /// `evaluate --json`.
    Evaluate,
}

/// The JSON Schema (draft 2020-12) of `of`, pretty-printed with a newline.
pub fn schema(of: SchemaOf) -> String {
    // The schema of what is printed: a field that is null when empty is
    // still always there, so it is required (and may be null).
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    let schema = match of {
        SchemaOf::Predict => generator.into_root_schema_for::<PredictLine>(),
        SchemaOf::Evaluate => generator.into_root_schema_for::<EvaluateReport>(),
    };
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema is JSON");
    text.push('\n');
    text
}
