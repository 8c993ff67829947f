//! The 14 CheXpert findings, in the models' output order.

pub const CHEXPERT_LABELS: [&str; 14] = [
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
];

pub fn default_labels() -> Vec<String> {
    CHEXPERT_LABELS.iter().map(|s| s.to_string()).collect()
}

/// A label as part of a file name: lower-case ASCII letters and digits,
/// everything else `_` ("Pleural Effusion" -> "pleural_effusion").
pub fn file_slug(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}
