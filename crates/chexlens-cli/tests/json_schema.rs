//! The JSON Schemas of `--json` (`chexlens schema`, committed under
//! docs/schema) are current, and real output validates against them with an
//! independent validator: Python's `jsonschema` (scripts/setup --test
//! installs it into .tools/schema-venv).

mod common;

use common::{chexlens, fixture, root, tempdir};
use std::path::{Path, PathBuf};
use std::process::Command;

const SCHEMAS: [(&str, &str); 2] = [
    ("predict", "docs/schema/predict-line.schema.json"),
    ("evaluate", "docs/schema/evaluate.schema.json"),
];

fn python() -> PathBuf {
    let python = root().join(".tools/schema-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run bash scripts/setup --test (scripts/test does) first",
        python.display()
    );
    python
}

/// Validates each JSON document in `documents` against `schema`; the
/// validator's messages on failure.
fn validate(schema: &Path, documents: &[String]) -> Result<(), String> {
    let dir = tempdir(&format!("schema-{}", schema.file_stem().unwrap().to_string_lossy()));
    let file = dir.join("documents.jsonl");
    std::fs::write(&file, documents.join("\n")).unwrap();
    let check = r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
errors = [f"document {i}: {e.message} at {list(e.absolute_path)}"
          for i, line in enumerate(open(sys.argv[2])) for e in validator.iter_errors(json.loads(line))]
print("\n".join(errors))
sys.exit(1 if errors else 0)
"#;
    let out = Command::new(python())
        .args(["-c", check, &schema.display().to_string(), &file.display().to_string()])
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn stdout_of(args: &[&str]) -> String {
    let out = chexlens(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn demo_manifest() -> String {
    root().join("public/models/demo/manifest.json").display().to_string()
}

#[test]
fn the_committed_schemas_are_what_the_cli_prints() {
    for (of, committed) in SCHEMAS {
        let printed = stdout_of(&["schema", of]);
        let on_disk = std::fs::read_to_string(root().join(committed)).unwrap_or_default();
        assert!(
            printed == on_disk,
            "{committed} is not what `chexlens schema {of}` prints: run `chexlens schema {of} > {committed}`"
        );
    }
}

#[test]
fn predict_lines_validate_against_their_schema() {
    let images = ["xray_grey.jpg", "xray_rgb.png", "xray_grey16.png"].map(|n| fixture(n).display().to_string());
    let manifest = demo_manifest();
    let mut args = vec!["predict", "--json", "--model", &manifest, "--threshold", "0.3"];
    args.extend(images.iter().map(String::as_str));
    let lines: Vec<String> = stdout_of(&args).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 3);
    // The optional parts are there to be checked: members, findings with maps.
    let first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert!(first["member_probabilities"].is_object() && first["findings"][0]["cam"].is_array());
    validate(&root().join(SCHEMAS[0].1), &lines).unwrap();
    // A line with a wrong type is refused: the validation can fail.
    let broken = lines[0].replacen("\"members\":3", "\"members\":\"three\"", 1);
    assert_ne!(broken, lines[0]);
    assert!(validate(&root().join(SCHEMAS[0].1), &[broken]).is_err());
}

#[test]
fn evaluate_reports_validate_against_their_schema() {
    let dir = tempdir("schema-evaluate");
    let mut csv = String::from("Path,Sex,Age,Frontal/Lateral,AP/PA,Edema,Cardiomegaly\n");
    for (i, image) in ["xray_grey.jpg", "xray_rgb.png", "xray_grey8.png", "xray_grey16.png"]
        .iter()
        .enumerate()
    {
        std::fs::copy(fixture(image), dir.join(image)).unwrap();
        csv.push_str(&format!(
            "{image},Female,{},Frontal,PA,{}.0,{}.0\n",
            40 + i,
            i % 2,
            (i / 2) % 2
        ));
    }
    std::fs::write(dir.join("missing.png"), b"not an image").unwrap();
    csv.push_str("missing.png,Male,,Lateral,,1.0,0.0\n");
    std::fs::write(dir.join("labels.csv"), csv).unwrap();
    let labels = dir.join("labels.csv").display().to_string();
    let report = stdout_of(&[
        "evaluate",
        "--json",
        "--model",
        &demo_manifest(),
        "--pick",
        "youden",
        "--labels",
        &labels,
    ]);
    let parsed: serde_json::Value = serde_json::from_str(report.trim()).unwrap();
    assert!(parsed["picked_thresholds"].is_object() && parsed["skipped"][0]["error"].is_string());
    validate(&root().join(SCHEMAS[1].1), &[report.trim().to_owned()]).unwrap();
    // A field that is null when empty is still required: dropping it is refused.
    let mut without = parsed.clone();
    without.as_object_mut().unwrap().remove("mean_auroc");
    assert!(validate(&root().join(SCHEMAS[1].1), &[without.to_string()]).is_err());
}
