//! The `chexlens predict` binary against the PyTorch reference fixtures.

mod common;

use common::{chexlens, fixture, path};
use serde_json::Value;
use std::path::PathBuf;

fn reference() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("reference.json")).unwrap()).unwrap()
}

#[test]
fn json_lines_match_the_pytorch_ensemble_and_bad_files_do_not_stop_the_batch() {
    let out = predict_three_members_on_two_images_and_a_bad_file();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed image makes the exit code non-zero"
    );
    assert_one_line_names_the_bad_file(&String::from_utf8(out.stderr).unwrap());
    let reference = reference();
    let labels: Vec<&str> = reference["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for (line, file) in lines.iter().zip(["xray_grey8.png", "xray_rgb.png"]) {
        let expected = &reference["ensemble"][file]["female_71_ap"]["probabilities"];
        assert_line_matches_pytorch(line, file, expected, &labels);
    }
}

/// `predict --json` with the three tiny members, for a 71-year-old woman
/// (AP), on two images with a weight file between them.
fn predict_three_members_on_two_images_and_a_bad_file() -> std::process::Output {
    let (m0, m1, m2) = (
        path("tiny_m0.pth"),
        path("tiny_m1_checkpoint.pth"),
        path("tiny_m2.safetensors"),
    );
    let (good1, bad, good2) = (path("xray_grey8.png"), path("tiny_m0.pth"), path("xray_rgb.png"));
    chexlens(&[
        "predict",
        "--json",
        "--weights",
        &m0,
        "--weights",
        &m1,
        "--weights",
        &m2,
        "--sex",
        "female",
        "--age",
        "71",
        "--projection",
        "ap",
        &good1,
        &bad,
        &good2,
    ])
}

fn assert_one_line_names_the_bad_file(stderr: &str) {
    assert_eq!(stderr.lines().count(), 1, "one line per bad file: {stderr}");
    assert!(
        stderr.contains("tiny_m0.pth") && stderr.contains("not a PNG, JPEG or DICOM image"),
        "{stderr}"
    );
}

/// One image's JSON line: the ensemble's probabilities as PyTorch gives
/// them (`expected`, in label order), and its findings.
fn assert_line_matches_pytorch(line: &Value, file: &str, expected: &Value, labels: &[&str]) {
    assert_eq!(line["members"], 3);
    assert!(line["image"].as_str().unwrap().ends_with(file));
    let probabilities = line["probabilities"].as_object().unwrap();
    assert_eq!(
        probabilities.keys().map(String::as_str).collect::<Vec<_>>(),
        labels,
        "all 14 labels, in order"
    );
    for (i, label) in labels.iter().enumerate() {
        let got = probabilities[*label].as_f64().unwrap();
        let want = expected[i].as_f64().unwrap();
        assert!((got - want).abs() < 1e-5, "{file} {label}: {got} vs PyTorch {want}");
    }
    let findings = line["findings"].as_array().unwrap();
    let expected_count = expected
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p.as_f64().unwrap() >= 0.55)
        .count();
    assert_eq!(findings.len(), expected_count, "findings are those at or above 0.55");
    assert!(
        findings
            .windows(2)
            .all(|w| w[0]["probability"].as_f64() >= w[1]["probability"].as_f64())
    );
}

#[test]
fn manifest_members_are_sha256_checked() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("manifest-test");
    std::fs::create_dir_all(&dir).unwrap();
    let weights = std::fs::read(fixture("tiny_m0.safetensors")).unwrap();
    let digest = chexlens_checkpoints::weights::sha256_hex(&weights);
    std::fs::write(dir.join("m0.safetensors"), &weights).unwrap();
    let manifest = |sha: &str| {
        format!(
            r#"{{"name": "test", "members": [{{"weights": "m0.safetensors", "sha256": "{sha}"}}], "thresholds": {{"default": 0.9}}}}"#
        )
    };
    std::fs::write(dir.join("good.json"), manifest(&digest)).unwrap();
    std::fs::write(dir.join("bad.json"), manifest(&"0".repeat(64))).unwrap();
    let image = path("xray_grey8.png");

    let good = chexlens(&[
        "predict",
        "--json",
        "--model",
        dir.join("good.json").to_str().unwrap(),
        &image,
    ]);
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    let line: Value = serde_json::from_slice(&good.stdout).unwrap();
    let expected = &reference()["members"]["tiny_m0"]["xray_grey8.png"]["reference_default"]["probabilities"];
    let got = line["probabilities"]["No Finding"].as_f64().unwrap();
    assert!((got - expected[0].as_f64().unwrap()).abs() < 1e-5);
    let above: usize = expected
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p.as_f64().unwrap() >= 0.9)
        .count();
    assert_eq!(
        line["findings"].as_array().unwrap().len(),
        above,
        "the manifest's threshold applies"
    );

    let bad = chexlens(&["predict", "--model", dir.join("bad.json").to_str().unwrap(), &image]);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8(bad.stderr).unwrap();
    assert!(stderr.contains("sha256 is ") && stderr.contains(&digest), "{stderr}");
}

#[test]
fn hostile_weights_give_one_line_and_no_panic() {
    let out = chexlens(&[
        "predict",
        "--weights",
        &path("bad_os_system.pth"),
        &path("xray_grey8.png"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("posix.system"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn table_marks_findings() {
    let out = chexlens(&[
        "predict",
        "--threshold",
        "0.99",
        "--weights",
        &path("tiny_m0.pth"),
        &path("xray_grey8.png"),
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 15, "the image line and 14 labels: {text}");
    assert!(!text.contains("finding"), "nothing reaches 0.99 in this fixture");
}

#[test]
fn cam_overlays_and_json_maps_match_pytorch_grad_cam() {
    let reference: Value = serde_json::from_str(&std::fs::read_to_string(fixture("gradcam.json")).unwrap()).unwrap();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cam-test");
    let _ = std::fs::remove_dir_all(&dir);
    let members = [path("tiny_m0.pth"), path("tiny_m1_checkpoint.pth"), path("tiny_m2.pth")];
    let image = path(reference["image"].as_str().unwrap());
    let mut args = vec![
        "predict",
        "--json",
        "--threshold",
        "0",
        "--cam",
        dir.to_str().unwrap(),
        "--all-labels",
    ];
    for m in &members {
        args.extend(["--weights", m]);
    }
    args.push(&image);
    let out = chexlens(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    let labels: Vec<String> = reference_labels();
    for label in reference["labels"].as_array().unwrap() {
        let name = &labels[label.as_u64().unwrap() as usize];
        let finding = line["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["label"] == *name)
            .unwrap();
        let cam = flat_grid(&finding["cam"]);
        let expected = flat_grid(&reference["ensemble"][label.to_string()]);
        assert_eq!(cam.len(), 144);
        let diff = cam
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(
            diff <= 1e-3,
            "{name}: ensemble map differs from pytorch-grad-cam's rule by {diff}"
        );
    }
    let written: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(written.len(), 14, "one overlay per label: {written:?}");
    assert!(
        written.contains(&"resized_xray_grey8_pleural_effusion.png".to_string()),
        "{written:?}"
    );
    let overlay = image::open(dir.join("resized_xray_grey8_pleural_effusion.png")).unwrap();
    assert_eq!(
        (overlay.width(), overlay.height()),
        (384, 384),
        "overlays keep the image's resolution"
    );
}

/// Rows of numbers as one flat list.
fn flat_grid(rows: &Value) -> Vec<f64> {
    rows.as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
        .collect()
}

fn reference_labels() -> Vec<String> {
    reference()["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

/// Without a GPU backend in the build (or a Vulkan driver on the machine),
/// `--device gpu` says so in one line and stops before loading anything.
#[test]
fn an_unavailable_gpu_is_one_plain_message() {
    let out = chexlens(&[
        "predict",
        "--device",
        "gpu",
        "--weights",
        &path("tiny_m0.pth"),
        &path("xray_grey8.png"),
    ]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    if out.status.success() {
        // A build with `--features gpu` on a machine with a Vulkan GPU.
        return;
    }
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("built without its GPU backend") || stderr.contains("could not be started through Vulkan"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing is reported without a model");
}

#[test]
fn each_members_probabilities_are_pytorchs_and_their_disagreement_is_marked() {
    let image = path("xray_rgb.png");
    let out = chexlens(&[
        "predict",
        "--json",
        "--weights",
        &format!("{},{}", path("tiny_m0.pth"), path("tiny_m2.pth")),
        &image,
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    let reference = reference();
    let expected = |member: &str| {
        reference["members"][member]["xray_rgb.png"]["reference_default"]["probabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_f64().unwrap())
            .collect::<Vec<_>>()
    };
    let (m0, m2) = (expected("tiny_m0"), expected("tiny_m2"));
    let mut disagree = Vec::new();
    for (i, label) in reference_labels().iter().enumerate() {
        let got: Vec<f64> = line["member_probabilities"][label]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_f64().unwrap())
            .collect();
        assert!(
            (got[0] - m0[i]).abs() < 1e-5,
            "{label}: member 1 {} PyTorch {}",
            got[0],
            m0[i]
        );
        assert!(
            (got[1] - m2[i]).abs() < 1e-5,
            "{label}: member 2 {} PyTorch {}",
            got[1],
            m2[i]
        );
        if (m0[i] - m2[i]).abs() >= f64::from(chexlens_checkpoints::combine::DISAGREEMENT_SPREAD) {
            disagree.push(label.clone());
        }
    }
    let marked: Vec<String> = line["members_disagree"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    assert_eq!(marked, disagree);
    assert!(
        !disagree.is_empty() && disagree.len() < 14,
        "both cases are exercised: {disagree:?}"
    );

    let table = chexlens(&[
        "predict",
        "--weights",
        &format!("{},{}", path("tiny_m0.pth"), path("tiny_m2.pth")),
        &image,
    ]);
    let text = String::from_utf8_lossy(&table.stdout);
    for label in &disagree {
        let row = text
            .lines()
            .find(|l| l.trim_start().starts_with(label.as_str()))
            .unwrap();
        assert!(row.ends_with("members disagree"), "{row}");
    }
}

/// The ensemble rule on the reference's member maps: their mean, min-max scaled.
fn reference_ensemble(maps: &[Vec<f64>]) -> Vec<f64> {
    let mean: Vec<f64> = (0..maps[0].len())
        .map(|i| maps.iter().map(|m| m[i]).sum::<f64>() / maps.len() as f64)
        .collect();
    let min = mean.iter().copied().fold(f64::INFINITY, f64::min);
    let max = mean.iter().map(|v| v - min).fold(0.0, f64::max);
    mean.iter().map(|v| (v - min) / (max + 1e-7)).collect()
}

#[test]
fn cam_method_layer_and_metrics_from_the_command_line() {
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("cam_methods.json")).unwrap()).unwrap();
    let image = path(reference["image"].as_str().unwrap());
    let members = [path("tiny_m0.pth"), path("tiny_m1_checkpoint.pth"), path("tiny_m2.pth")];
    let run = |extra: &[&str]| {
        let mut args = vec!["predict", "--threshold", "0"];
        args.extend(extra);
        for m in &members {
            args.extend(["--weights", m]);
        }
        args.push(&image);
        chexlens(&args)
    };
    let out = run(&[
        "--json",
        "--cam-method",
        "layercam",
        "--cam-layer",
        "stages_2",
        "--cam-metrics",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["cam_maps"]["method"], "layercam");
    assert_eq!(line["cam_maps"]["layer"], "stages_2");
    let labels = reference_labels();
    for label in reference["labels"].as_array().unwrap() {
        let name = &labels[label.as_u64().unwrap() as usize];
        let finding = line["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["label"] == *name)
            .unwrap();
        let cam = flat_grid(&finding["cam"]);
        let members: Vec<Vec<f64>> = ["tiny_m0", "tiny_m1", "tiny_m2"]
            .iter()
            .map(|m| flat_grid(&reference["maps"][m]["stages_2"]["layercam"][label.to_string()]))
            .collect();
        let expected = reference_ensemble(&members);
        assert_eq!(cam.len(), 24 * 24);
        let diff = cam
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(diff <= 1e-3, "{name}: differs from pytorch-grad-cam's by {diff}");
        let figures = &finding["faithfulness"];
        let probability = line["probabilities"][name].as_f64().unwrap();
        assert!((figures["probability"].as_f64().unwrap() - probability).abs() < 1e-6);
        assert_eq!(figures["deletion"].as_array().unwrap().len(), 4);
    }

    // The table: each map's figures, and the method's caveat.
    let out = run(&["--cam-method", "hirescam", "--cam-metrics"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("faithfulness of the HiResCAM maps (last layer)"),
        "{text}"
    );
    assert!(text.contains("Pneumothorax: confidence change"), "{text}");
    assert!(text.contains("note: HiResCAM is rounding noise"), "{text}");

    let out = run(&["--cam-method", "gradcam+++"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("'gradcam+++' is not a method; choose one of gradcam, layercam, gradcam++"),
        "{stderr}"
    );
}
