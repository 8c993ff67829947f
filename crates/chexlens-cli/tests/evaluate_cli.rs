//! `chexlens evaluate` on a labelled set of the fixture images: its
//! predictions are `predict`'s, its scores are the evaluation module's on
//! them (itself held to scikit-learn), and a run resumes, shards merge and
//! picked thresholds land in a manifest that `predict` reads.

mod common;

use chexlens_chexpert::labels::CHEXPERT_LABELS;
use chexlens_research::evaluation::auroc;
use common::{chexlens, fixture, root, tempdir};
use serde_json::Value;
use std::path::{Path, PathBuf};

const IMAGES: [&str; 10] = [
    "xray_grey.jpg",
    "xray_grey16.png",
    "xray_grey8.png",
    "xray_rgb.png",
    "xray_rgba.png",
    "resized_xray_grey.png",
    "resized_xray_grey16.png",
    "resized_xray_grey8.png",
    "resized_xray_rgb.png",
    "resized_xray_rgba.png",
];

fn demo_manifest() -> String {
    root().join("public/models/demo/manifest.json").display().to_string()
}

/// Label of image `i` for finding `f`: a fixed pattern with both classes,
/// some uncertain and some blank.
fn label_in_csv(i: usize, f: usize) -> &'static str {
    match (i * 7 + f * 3) % 6 {
        0 | 3 => "1.0",
        1 | 4 => "0.0",
        2 => "-1.0",
        _ => "",
    }
}

/// A CheXpert-layout CSV of the fixture images (and one file that is not
/// an image), with metadata that varies by row.
fn write_set(dir: &Path) -> std::path::PathBuf {
    let mut csv = format!("Path,Sex,Age,Frontal/Lateral,AP/PA,{}\n", CHEXPERT_LABELS.join(","));
    let rows = IMAGES.iter().copied().chain(["not_an_image.png"]);
    for (i, image) in rows.enumerate() {
        let (sex, view, projection) = match i % 3 {
            0 => ("Female", "Frontal", "AP"),
            1 => ("Male", "Lateral", ""),
            _ => ("Male", "Frontal", "PA"),
        };
        let age = if i == 4 {
            String::new()
        } else {
            (40 + i * 3).to_string()
        };
        let labels: Vec<&str> = (0..14).map(|f| label_in_csv(i, f)).collect();
        csv.push_str(&format!(
            "{image},{sex},{age},{view},{projection},{}\n",
            labels.join(",")
        ));
    }
    std::fs::write(dir.join("not_an_image.png"), b"this is text").unwrap();
    for image in IMAGES {
        std::fs::copy(fixture(image), dir.join(image)).unwrap();
    }
    let path = dir.join("valid.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

fn run_json(args: &[&str]) -> Value {
    let out = chexlens(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn evaluate_scores_predicts_numbers_resumes_and_merges_shards() {
    let setup = Setup::new();
    let full = setup.evaluate();
    let kept = assert_every_image_scored(&full, &setup.predictions);
    assert_kept_prediction_is_predicts(&setup, &kept);
    assert_aurocs_are_the_evaluation_modules(&full, &kept);
    assert_resume_runs_only_the_lost(&setup, &full, &kept);
    let (shard_files, sizes) = assert_shards_merge_as_one(&setup, &full);
    assert_without_a_model_only_predicted_images_count(&setup, &shard_files[0], sizes[0]);
}

/// The labelled set in a fresh folder, the demo model, and the file that
/// `evaluate` keeps its predictions in.
struct Setup {
    dir: PathBuf,
    set: String,
    manifest: String,
    predictions: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let dir = tempdir("evaluate");
        let set = write_set(&dir).display().to_string();
        let predictions = dir.join("predictions.csv");
        Self {
            dir,
            set,
            manifest: demo_manifest(),
            predictions,
        }
    }

    /// `evaluate` of the whole set with the model, keeping its predictions.
    fn evaluate(&self) -> Value {
        let p = self.predictions.display().to_string();
        run_json(&[
            "evaluate",
            "--labels",
            &self.set,
            "--model",
            &self.manifest,
            "--predictions",
            &p,
            "--json",
        ])
    }
}

/// The text file is listed and skipped; every image is scored. Returns the
/// kept predictions' lines.
fn assert_every_image_scored(full: &Value, predictions: &Path) -> Vec<String> {
    assert_eq!(full["images_scored"], IMAGES.len());
    let skipped = full["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["path"], "not_an_image.png");
    assert_eq!(full["ci_method"], "DeLong");
    let kept = lines(predictions);
    assert_eq!(kept.len(), 1 + IMAGES.len(), "header and one line per image");
    kept
}

/// Each kept prediction is `predict`'s for that image and the CSV's metadata.
fn assert_kept_prediction_is_predicts(setup: &Setup, kept: &[String]) {
    let row: Vec<&str> = kept[2].split(',').collect();
    assert_eq!(row[0], IMAGES[1]);
    let one = run_json(&[
        "predict",
        "--json",
        "--model",
        &setup.manifest,
        "--sex",
        "male",
        "--age",
        "43",
        "--view",
        "lateral",
        "--projection",
        "none",
        setup.dir.join(IMAGES[1]).to_str().unwrap(),
    ]);
    for (f, label) in CHEXPERT_LABELS.iter().enumerate() {
        let kept: f64 = row[1 + f].parse().unwrap();
        let predicted = one["probabilities"][label].as_f64().unwrap();
        assert!(
            (kept - predicted).abs() < 1e-6,
            "{label}: {kept} vs predict's {predicted}"
        );
    }
}

/// The AUROCs are the evaluation module's on the kept predictions (U-Ignore).
fn assert_aurocs_are_the_evaluation_modules(full: &Value, kept: &[String]) {
    for (f, label) in CHEXPERT_LABELS.iter().enumerate() {
        let (scores, truth): (Vec<f64>, Vec<bool>) = kept[1..]
            .iter()
            .enumerate()
            .filter_map(|(i, line)| {
                let p: f64 = line.split(',').nth(1 + f).unwrap().parse().unwrap();
                match label_in_csv(i, f) {
                    "1.0" => Some((p, true)),
                    "0.0" => Some((p, false)),
                    _ => None,
                }
            })
            .unzip();
        let report = &full["labels"][f];
        assert_eq!(report["label"], *label);
        let expected = auroc(&scores, &truth).map(|a| a.value);
        assert_eq!(report["auroc"].as_f64(), expected, "{label}");
    }
    assert!(full["mean_auroc"].as_f64().is_some());
}

/// Resume: with the last four predictions lost, only those four run again.
fn assert_resume_runs_only_the_lost(setup: &Setup, full: &Value, kept: &[String]) {
    std::fs::write(&setup.predictions, kept[..kept.len() - 4].join("\n") + "\n").unwrap();
    let resumed = setup.evaluate();
    assert_eq!(lines(&setup.predictions).len(), kept.len(), "no line twice");
    assert_eq!(resumed["labels"], full["labels"]);
}

/// Shards: two runs over halves, merged without the model, score as one.
/// Returns the shards' files and how many predictions each holds.
fn assert_shards_merge_as_one(setup: &Setup, full: &Value) -> (Vec<String>, Vec<usize>) {
    let mut shard_files = Vec::new();
    for shard in ["0/2", "1/2"] {
        let file = setup.dir.join(format!("shard{}.csv", &shard[..1]));
        let f = file.display().to_string();
        run_json(&[
            "evaluate",
            "--labels",
            &setup.set,
            "--model",
            &setup.manifest,
            "--shard",
            shard,
            "--predictions",
            &f,
            "--json",
        ]);
        shard_files.push(f);
    }
    let sizes: Vec<usize> = shard_files.iter().map(|f| lines(Path::new(f)).len() - 1).collect();
    assert_eq!(sizes.iter().sum::<usize>(), IMAGES.len(), "{sizes:?}");
    let merged = run_json(&[
        "evaluate",
        "--labels",
        &setup.set,
        "--predictions",
        &shard_files.join(","),
        "--json",
    ]);
    assert_eq!(merged["labels"], full["labels"]);

    assert_eq!(merged["images_in_set"], IMAGES.len() + 1);
    (shard_files, sizes)
}

/// Without a model, images without predictions are left out and counted;
/// with none at all it is an error that says what to give.
fn assert_without_a_model_only_predicted_images_count(setup: &Setup, half_file: &str, half_size: usize) {
    let set = &setup.set;
    let out = chexlens(&["evaluate", "--labels", set, "--predictions", half_file, "--json"]);
    assert!(out.status.success());
    let half: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(half["images_scored"], half_size);
    assert!(String::from_utf8_lossy(&out.stderr).contains("have no predictions and are not scored"));
    let none = setup.dir.join("none.csv");
    let out = chexlens(&["evaluate", "--labels", set, "--predictions", none.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("give --model or --weights"));
}

#[test]
fn picked_thresholds_go_into_a_manifest_that_predict_reads() {
    let dir = tempdir("evaluate-pick");
    let set = write_set(&dir).display().to_string();
    let written = dir.join("tuned.json");
    let w = written.display().to_string();
    let report = run_json(&[
        "evaluate",
        "--labels",
        &set,
        "--model",
        &demo_manifest(),
        "--pick",
        "youden",
        "--write-thresholds",
        &w,
        "--json",
    ]);
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(&written).unwrap()).unwrap();
    let picked = report["picked_thresholds"].as_object().unwrap();
    for (label, threshold) in picked {
        if let Some(t) = threshold.as_f64() {
            let stored = manifest["thresholds"]["per_label"][label].as_f64().unwrap();
            assert!((stored - t).abs() < 1e-6, "{label}");
        }
    }
    assert!(picked.values().any(Value::is_number), "some label got a threshold");
    // The copy lives elsewhere: its members point at the demo's files.
    let out = chexlens(&[
        "predict",
        "--json",
        "--model",
        &w,
        &fixture("xray_rgb.png").display().to_string(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_bad_csv_is_refused_with_its_line() {
    let dir = tempdir("evaluate-bad");
    let csv = dir.join("bad.csv");
    std::fs::write(&csv, "Path,Edema\na.png,maybe\n").unwrap();
    let out = chexlens(&[
        "evaluate",
        "--labels",
        csv.to_str().unwrap(),
        "--model",
        &demo_manifest(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 2: 'maybe' in 'Edema' is not 1, 0, -1 or blank"),
        "{stderr}"
    );
}
