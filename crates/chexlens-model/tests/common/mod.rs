//! Shared helpers for the fixture tests: paths, the reference JSON, metadata cases.

#![allow(dead_code)]

use chexlens_chexpert::metadata::{Metadata, Projection, Sex, View};
use serde_json::Value;
use std::path::PathBuf;

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn reference() -> Value {
    let text = std::fs::read_to_string(fixture("reference.json"))
        .expect("reference.json (run tools/reference/generate_fixtures.py)");
    serde_json::from_str(&text).expect("reference.json parses")
}

pub fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

/// The generator's metadata cases, as typed metadata.
pub fn metadata_case(name: &str) -> Metadata {
    match name {
        "reference_default" => Metadata::default(),
        "female_71_ap" => Metadata {
            sex: Sex::Female,
            age: Some(71.0),
            view: View::Frontal,
            projection: Projection::Ap,
        },
        "male_unknown_age_lateral" => Metadata {
            sex: Sex::Male,
            age: None,
            view: View::Lateral,
            projection: Projection::None,
        },
        "female_33_unknown_projection" => Metadata {
            sex: Sex::Female,
            age: Some(33.0),
            view: View::Frontal,
            projection: Projection::Unknown,
        },
        other => panic!("unknown metadata case {other}"),
    }
}

pub fn image_files(reference: &Value) -> Vec<(String, String, String)> {
    reference["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|i| {
            let s = |k: &str| i[k].as_str().expect("string").to_string();
            (s("file"), s("resized"), s("resized_bicubic"))
        })
        .collect()
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// A reference's `"labels"`: label indices.
pub fn label_indices(reference: &Value) -> Vec<usize> {
    reference["labels"]
        .as_array()
        .expect("labels")
        .iter()
        .map(|l| l.as_u64().expect("a label index") as usize)
        .collect()
}
