//! `chexlens predict --dicom-out`: the SR and Secondary Captures held to
//! DICOM's own tools. dicom3tools' `dciodvfy` checks each object against its
//! IOD, dcmtk's `dsrdump` prints the SR tree, highdicom parses the SR as a
//! TID 1500 measurement report and pydicom reads the captures' pixels
//! (tools/dicom/read_results.py); all are installed by
//! `scripts/setup --test`, and the tests fail, not skip, without them.

mod common;

use common::{chexlens, path, root, tempdir};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

fn sample(name: &str) -> PathBuf {
    let dir =
        std::env::var_os("CHEXLENS_DICOM_SAMPLES").map_or_else(|| root().join("target/dicom-samples"), PathBuf::from);
    let file = dir.join("files").join(name);
    assert!(
        file.exists(),
        "{} is missing: run scripts/fetch-dicom-samples (scripts/test does) first",
        file.display()
    );
    file
}

fn demo_manifest() -> String {
    root().join("public/models/demo/manifest.json").display().to_string()
}

fn tool(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} cannot run ({e}): bash scripts/setup --test installs it"))
}

/// `dciodvfy`'s verdict: the IOD it recognised, and no line called an error.
fn assert_valid(object: &Path, iod: &str) {
    let out = tool("dciodvfy", &[object.to_str().unwrap()]);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.lines().any(|l| l.trim() == iod),
        "{}: not read as {iod}:\n{report}",
        object.display()
    );
    let errors: Vec<&str> = report.lines().filter(|l| l.starts_with("Error")).collect();
    assert!(errors.is_empty(), "{}:\n{}", object.display(), errors.join("\n"));
}

/// What highdicom and pydicom read in each file of `paths`, by file.
fn read_results(paths: &[&Path]) -> serde_json::Map<String, Value> {
    let python = root().join(".tools/dicom-venv/bin/python");
    let script = root().join("tools/dicom/read_results.py");
    let mut args = vec![script.to_str().unwrap().to_owned()];
    args.extend(paths.iter().map(|p| p.display().to_string()));
    let out = Command::new(&python).args(&args).output().unwrap_or_else(|e| {
        panic!(
            "{} cannot run ({e}): bash scripts/setup --test makes it",
            python.display()
        )
    });
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

fn text(obj: &dicom_object::DefaultDicomObject, tag: dicom_core::Tag) -> String {
    obj.element(tag)
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches(['\0', ' '])
        .to_owned()
}

#[test]
fn a_dicoms_results_are_an_sr_and_captures_of_its_study_that_dicom_tools_accept() {
    use dicom_dictionary_std::tags;
    let tmp = tempdir("dicom_out");
    let (out, cams) = (tmp.join("dicom"), tmp.join("cam"));
    let source_file = sample("RG1_J2KR.dcm");
    let run = chexlens(&[
        "predict",
        "--json",
        "--model",
        &demo_manifest(),
        "--dicom-out",
        out.to_str().unwrap(),
        "--cam",
        cams.to_str().unwrap(),
        source_file.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let line: Value = serde_json::from_slice(&run.stdout).unwrap();
    let findings: Vec<&str> = line["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["label"].as_str().unwrap())
        .collect();
    assert!(
        !findings.is_empty(),
        "the demo model finds something in RG1, so captures are written"
    );

    let written = files_in(&out);
    let report = out.join("RG1_J2KR_report.dcm");
    assert_eq!(written.len(), 1 + findings.len(), "{written:?}");
    assert_valid(&report, "ComprehensiveSR");
    for capture in written.iter().filter(|f| **f != report) {
        assert_valid(capture, "SCImage");
    }
    let tree = tool("dsrdump", &[report.to_str().unwrap()]);
    assert!(tree.status.success(), "{}", String::from_utf8_lossy(&tree.stderr));
    let tree = String::from_utf8_lossy(&tree.stdout);
    assert!(
        tree.contains(r#"<CONTAINER:(,,"Imaging Measurement Report")=CONTINUOUS>"#),
        "{tree}"
    );
    assert_eq!(
        tree.matches(r#"<contains CONTAINER:(,,"Measurement Group")"#).count(),
        14,
        "{tree}"
    );
    assert!(tree.contains("Verification Flag   : UNVERIFIED"), "{tree}");

    let source = chexlens_images::dicom::open(&std::fs::read(&source_file).unwrap()).unwrap();
    let found = read_results(&[&out, &cams]);
    let sr = &found[&report.display().to_string()];
    assert_eq!(sr["kind"], "sr");
    // The same study and patient, a new series, the source referenced.
    assert_eq!(sr["study_instance_uid"], text(&source, tags::STUDY_INSTANCE_UID));
    assert_eq!(sr["patient_id"], text(&source, tags::PATIENT_ID));
    assert_eq!(sr["patient_name"], text(&source, tags::PATIENT_NAME));
    assert_ne!(sr["series_instance_uid"], text(&source, tags::SERIES_INSTANCE_UID));
    let source_uid = text(&source, tags::SOP_INSTANCE_UID);
    assert_eq!(
        sr["evidence"],
        serde_json::json!([{
            "study_instance_uid": text(&source, tags::STUDY_INSTANCE_UID),
            "series_instance_uid": text(&source, tags::SERIES_INSTANCE_UID),
            "sop_class_uid": text(&source, tags::SOP_CLASS_UID),
            "sop_instance_uid": source_uid,
        }])
    );
    assert!(
        sr["statements"][0].as_str().unwrap().contains("not a diagnosis"),
        "{}",
        sr["statements"]
    );
    assert!(sr["sop_instance_uid"].as_str().unwrap().starts_with("2.25."));

    // Every label's probability as the CLI printed it, its threshold and decision.
    let groups = sr["groups"].as_array().unwrap();
    let probabilities = line["probabilities"].as_object().unwrap();
    assert_eq!(groups.len(), probabilities.len());
    for (group, (label, p)) in groups.iter().zip(probabilities) {
        assert_eq!(group["label"], label.as_str());
        assert_eq!(group["finding"], label.as_str());
        let (p, read) = (p.as_f64().unwrap(), group["probability"].as_f64().unwrap());
        assert!((read - p).abs() <= 1e-6, "{label}: {read} in the SR, {p} printed");
        assert_eq!(
            group["threshold"].as_f64().unwrap(),
            f64::from(0.55f32),
            "the demo manifest's threshold"
        );
        let expected = if findings.contains(&label.as_str()) {
            "Present"
        } else {
            "Absent"
        };
        assert_eq!(group["decision"], expected, "{label}");
        assert_eq!(group["source_images"], serde_json::json!([source_uid]));
        assert_eq!(
            group["source_frames"],
            serde_json::json!([null]),
            "one frame: no frame number"
        );
        assert!(group["algorithm"][0].as_str().unwrap().starts_with("chexlens: "));
        let parameters = group["parameters"].as_array().unwrap();
        assert_eq!(
            parameters.len(),
            3 + 3,
            "three members' sha256, decision, metadata, preprocessing"
        );
        assert!(
            parameters[0].as_str().unwrap().starts_with("member 1 sha256 "),
            "{parameters:?}"
        );
        assert!(
            parameters[4].as_str().unwrap().contains("sex female, age 64"),
            "{parameters:?}"
        );
    }

    // Each capture: derived, referencing the source, its pixels the overlay PNG's.
    let mut series = Vec::new();
    for label in &findings {
        let slug = chexlens_chexpert::labels::file_slug(label);
        let capture = &found[&out.join(format!("RG1_J2KR_{slug}.dcm")).display().to_string()];
        let png = &found[&cams.join(format!("RG1_J2KR_{slug}.png")).display().to_string()];
        assert_eq!(capture["kind"], "sc");
        assert_eq!(capture["pixels"], png["pixels"], "{label}");
        assert_eq!(capture["pixels"]["shape"], serde_json::json!([1955, 1841, 3]));
        assert_eq!(capture["image_type"], serde_json::json!(["DERIVED", "SECONDARY"]));
        assert_eq!(capture["source_images"], serde_json::json!([source_uid]));
        assert_eq!(capture["study_instance_uid"], sr["study_instance_uid"]);
        assert!(
            capture["derivation"].as_str().unwrap().contains(label),
            "{}",
            capture["derivation"]
        );
        series.push(capture["series_instance_uid"].clone());
    }
    series.dedup();
    assert_eq!(series.len(), 1, "the captures share one series");
    assert_ne!(series[0], sr["series_instance_uid"], "and it is not the report's");
}

#[test]
fn a_png_joins_a_new_study_only_under_a_patient_id_the_user_gives() {
    let tmp = tempdir("dicom_out_png");
    let out = tmp.join("dicom");
    let image = path("xray_grey8.png");
    let manifest = demo_manifest();
    let refused = chexlens(&[
        "predict",
        "--model",
        &manifest,
        "--dicom-out",
        out.to_str().unwrap(),
        &image,
    ]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("not a DICOM file, so its results join no study: give --patient-id"),
        "{stderr}"
    );

    let bad = chexlens(&[
        "predict",
        "--model",
        &manifest,
        "--dicom-out",
        out.to_str().unwrap(),
        "--patient-id",
        "A\\B",
        &image,
    ]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("the patient ID must be 1 to 64 characters, without a backslash"),
        "{stderr}"
    );

    let run = chexlens(&[
        "predict",
        "--model",
        &manifest,
        "--all-labels",
        "--dicom-out",
        out.to_str().unwrap(),
        "--patient-id",
        "RESEARCH-0042",
        "--patient-name",
        "Doe^Jane",
        &image,
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let written = files_in(&out);
    assert_eq!(written.len(), 1 + 14, "--all-labels: every label's capture");
    for file in &written {
        let iod = if file.ends_with("xray_grey8_report.dcm") {
            "ComprehensiveSR"
        } else {
            "SCImage"
        };
        assert_valid(file, iod);
    }
    let found = read_results(&[&out]);
    let study = found.values().next().unwrap()["study_instance_uid"].clone();
    assert!(study.as_str().unwrap().starts_with("2.25."), "a new study: {study}");
    for object in found.values() {
        assert_eq!(object["patient_id"], "RESEARCH-0042");
        assert_eq!(object["patient_name"], "Doe^Jane");
        assert_eq!(object["study_instance_uid"], study, "one study for the image's objects");
    }
    let sr = &found[&out.join("xray_grey8_report.dcm").display().to_string()];
    assert_eq!(sr["evidence"], serde_json::json!([]), "no source instance to reference");
    assert_eq!(sr["groups"].as_array().unwrap().len(), 14);
}

#[test]
fn an_image_refused_by_strict_leaves_no_dicom_behind() {
    let tmp = tempdir("dicom_out_strict");
    let out = tmp.join("dicom");
    let ct = sample("CT_small.dcm");
    let run = chexlens(&[
        "predict",
        "--strict",
        "--model",
        &demo_manifest(),
        "--dicom-out",
        out.to_str().unwrap(),
        ct.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("refused (--strict)"));
    assert!(files_in(&out).is_empty(), "{:?}", files_in(&out));
}

#[test]
fn a_frame_of_a_multi_frame_file_is_referenced_by_its_number_and_the_warnings_travel() {
    let tmp = tempdir("dicom_out_frame");
    let out = tmp.join("dicom");
    // pydicom's emri_small_RLE: an MR head of 10 frames, warned (not refused without --strict).
    let file = sample("emri_small_RLE.dcm");
    let run = chexlens(&[
        "predict",
        "--json",
        "--frame",
        "7",
        "--model",
        &demo_manifest(),
        "--dicom-out",
        out.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let line: Value = serde_json::from_slice(&run.stdout).unwrap();
    let report = out.join("emri_small_RLE_report.dcm");
    assert_valid(&report, "ComprehensiveSR");
    let found = read_results(&[&out]);
    let sr = &found[&report.display().to_string()];
    for group in sr["groups"].as_array().unwrap() {
        assert_eq!(group["source_frames"], serde_json::json!([[7]]), "{}", group["label"]);
    }
    let warnings: Vec<String> = line["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| format!("Warning: {}", w["message"].as_str().unwrap()))
        .collect();
    assert!(!warnings.is_empty());
    assert_eq!(
        sr["statements"].as_array().unwrap()[1..],
        warnings.iter().map(|w| json!(w)).collect::<Vec<_>>()[..]
    );
    let captures: Vec<&Value> = found.values().filter(|o| o["kind"] == "sc").collect();
    assert_eq!(captures.len(), line["findings"].as_array().unwrap().len());
    for capture in captures {
        assert_eq!(capture["source_frames"], serde_json::json!([7]));
        assert_eq!(capture["pixels"]["shape"], serde_json::json!([64, 64, 3]));
    }
}
