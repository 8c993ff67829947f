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
