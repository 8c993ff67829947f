//! The coded concepts the objects use: DICOM's own (DCM), SNOMED CT's
//! Present/Absent, UCUM's units, and chexlens's private scheme
//! `99CHEXLENS` (declared in each object) for what no standard code names:
//! the labels, "Probability", the decision threshold.

/// A coded concept: value, scheme designator, meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code<'a> {
    pub value: &'a str,
    pub scheme: &'a str,
    pub meaning: &'a str,
}

const fn dcm(value: &'static str, meaning: &'static str) -> Code<'static> {
    Code {
        value,
        scheme: "DCM",
        meaning,
    }
}

const fn private(value: &'static str, meaning: &'static str) -> Code<'static> {
    Code {
        value,
        scheme: PRIVATE_SCHEME,
        meaning,
    }
}

/// chexlens's coding scheme, named in Coding Scheme Identification Sequence.
pub const PRIVATE_SCHEME: &str = "99CHEXLENS";
pub const PRIVATE_SCHEME_NAME: &str = "chexlens codes: CheXpert labels and model outputs";

pub const IMAGING_MEASUREMENT_REPORT: Code = dcm("126000", "Imaging Measurement Report");
pub const LANGUAGE: Code = dcm("121049", "Language of Content Item and Descendants");
pub const ENGLISH_US: Code = Code {
    value: "en-US",
    scheme: "RFC5646",
    meaning: "English (United States)",
};
pub const OBSERVER_TYPE: Code = dcm("121005", "Observer Type");
pub const DEVICE: Code = dcm("121007", "Device");
pub const DEVICE_OBSERVER_UID: Code = dcm("121012", "Device Observer UID");
pub const DEVICE_OBSERVER_NAME: Code = dcm("121013", "Device Observer Name");
pub const DEVICE_OBSERVER_MANUFACTURER: Code = dcm("121014", "Device Observer Manufacturer");
pub const PROCEDURE_REPORTED: Code = dcm("121058", "Procedure reported");
/// SNOMED CT 399208008 |Plain chest X-ray|.
pub const CHEST_X_RAY: Code = Code {
    value: "399208008",
    scheme: "SCT",
    meaning: "Chest X-ray",
};
pub const IMAGE_LIBRARY: Code = dcm("111028", "Image Library");
pub const IMAGE_LIBRARY_GROUP: Code = dcm("126200", "Image Library Group");
pub const IMAGING_MEASUREMENTS: Code = dcm("126010", "Imaging Measurements");
pub const MEASUREMENT_GROUP: Code = dcm("125007", "Measurement Group");
pub const TRACKING_IDENTIFIER: Code = dcm("112039", "Tracking Identifier");
pub const TRACKING_UID: Code = dcm("112040", "Tracking Unique Identifier");
pub const FINDING: Code = dcm("121071", "Finding");
pub const ALGORITHM_NAME: Code = dcm("111001", "Algorithm Name");
pub const ALGORITHM_VERSION: Code = dcm("111003", "Algorithm Version");
pub const ALGORITHM_PARAMETERS: Code = dcm("111002", "Algorithm Parameters");
pub const SOURCE_OF_MEASUREMENT: Code = dcm("121112", "Source of Measurement");
pub const QUALITATIVE_EVALUATIONS: Code = Code {
    value: "C0034375",
    scheme: "UMLS",
    meaning: "Qualitative Evaluations",
};
pub const COMMENT: Code = dcm("121106", "Comment");
pub const PRESENT: Code = Code {
    value: "52101004",
    scheme: "SCT",
    meaning: "Present",
};
pub const ABSENT: Code = Code {
    value: "2667000",
    scheme: "SCT",
    meaning: "Absent",
};
/// UCUM's annotation for a dimensionless probability, 0 to 1.
pub const PROBABILITY_UNIT: Code = Code {
    value: "{probability}",
    scheme: "UCUM",
    meaning: "probability",
};

pub const PROBABILITY: Code = private("PROBABILITY", "Probability");
pub const DECISION_THRESHOLD: Code = private("THRESHOLD", "Decision threshold");
pub const AT_THRESHOLD: Code = private("AT-THRESHOLD", "Finding at the decision threshold");

/// The private code of a label: `CHEXPERT-nn` for the CheXpert finding
/// it is (its place in CheXpert's order, from 01), else `LABEL-nnn` by its
/// place among the model's outputs.
pub fn label_value(label: &str, position: usize) -> String {
    match chexlens_chexpert::labels::CHEXPERT_LABELS
        .iter()
        .position(|l| *l == label)
    {
        Some(i) => format!("CHEXPERT-{:02}", i + 1),
        None => format!("LABEL-{:03}", position + 1),
    }
}

/// A Code Meaning (LO) holds at most 64 characters: longer labels are cut
/// there (the full label is the measurement group's Tracking Identifier).
pub fn meaning(text: &str) -> &str {
    match text.char_indices().nth(64) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}
