//! Images that are not chest radiographs, through the CLI: `predict`'s
//! `warnings` and `--strict`, `evaluate --strict`, and the demo model's
//! reference statistics, which `evaluate --write-reference` makes again
//! from the images `tools/reference/demo_reference.csv` lists.

mod common;

use chexlens_reference::file::from_bytes;
use common::{chexlens, fixture, root, tempdir};
use serde_json::Value;
use std::path::PathBuf;

fn demo_manifest() -> String {
    root().join("public/models/demo/manifest.json").display().to_string()
}

fn ct() -> PathBuf {
    let dir =
        std::env::var_os("CHEXLENS_DICOM_SAMPLES").map_or_else(|| root().join("target/dicom-samples"), PathBuf::from);
    dir.join("files/CT_small.dcm")
}

fn photograph() -> PathBuf {
    root().join("crates/chexlens-jpeg/tests/fixtures/jpeg/coffee_444_q95.jpg")
}

/// A real chest radiograph crop whose last scan was cut short before its
/// end marker (tools/reference/jpeg_corpus.py); djpeg warns "Corrupt JPEG
/// data: premature end of data segment".
fn damaged_jpeg() -> PathBuf {
    root().join("crates/chexlens-jpeg/tests/fixtures/corpus/340_chest_rg1_q100_baseline_cut_tail.jpg")
}

fn predict_json(images: &[&PathBuf], extra: &[&str]) -> (Vec<Value>, std::process::Output) {
    let manifest = demo_manifest();
    let mut args = vec!["predict", "--json", "--model", &manifest];
    args.extend(extra);
    let paths: Vec<String> = images.iter().map(|p| p.display().to_string()).collect();
    args.extend(paths.iter().map(String::as_str));
    let out = chexlens(&args);
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    (lines, out)
}

fn codes(line: &Value) -> Vec<&str> {
    line["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect()
}

#[test]
fn predict_names_why_an_image_is_no_chest_radiograph_and_strict_refuses_it() {
    let chest = fixture("xray_grey8.png");
    let (lines, out) = predict_json(&[&chest, &ct(), &photograph()], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(codes(&lines[0]).is_empty(), "{}", lines[0]["warnings"]);
    assert_eq!(codes(&lines[1]), ["not-radiograph"]);
    assert_eq!(lines[1]["warnings"][0]["message"], "a CT, not a chest radiograph");
    // The demo's features place the photograph beyond every reference radiograph.
    assert_eq!(codes(&lines[2]), ["colour", "unlike-reference"]);
    let typicality = &lines[2]["typicality"];
    assert!(typicality["ratio"].as_f64().unwrap() > 1.0, "{typicality}");
    assert_eq!(typicality["distances"].as_array().unwrap().len(), 3);
    assert!(lines[0]["typicality"]["ratio"].as_f64().unwrap() < 1.0);

    let (kept, strict) = predict_json(&[&chest, &ct(), &photograph()], &["--strict"]);
    assert_eq!(strict.status.code(), Some(1));
    assert_eq!(kept.len(), 1, "only the radiograph is printed");
    let stderr = String::from_utf8_lossy(&strict.stderr);
    assert!(
        stderr.contains("CT_small.dcm: refused (--strict): a CT, not a chest radiograph"),
        "{stderr}"
    );
    assert!(
        stderr.contains("coffee_444_q95.jpg: refused (--strict): a colour photograph"),
        "{stderr}"
    );

    // The table marks the image and gives each reason.
    let table = chexlens(&["predict", "--model", &demo_manifest(), ct().to_str().unwrap()]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("CT_small.dcm  [1 warning]"), "{text}");
    assert!(text.contains("  WARNING: a CT, not a chest radiograph"), "{text}");
}

#[test]
fn without_reference_statistics_the_cli_says_so() {
    let member = root().join("public/models/demo/demo_member0.safetensors");
    let out = chexlens(&[
        "predict",
        "--weights",
        member.to_str().unwrap(),
        "--json",
        fixture("xray_grey8.png").to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["typicality"], Value::Null);
    let table = chexlens(&[
        "predict",
        "--weights",
        member.to_str().unwrap(),
        fixture("xray_grey8.png").to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&table.stderr).contains("no reference statistics for this model"));
}

#[test]
fn evaluate_strict_lists_warned_images_as_skipped() {
    let dir = tempdir("evaluate-strict");
    std::fs::copy(fixture("xray_grey8.png"), dir.join("chest.png")).unwrap();
    std::fs::copy(ct(), dir.join("ct.dcm")).unwrap();
    let csv = dir.join("labels.csv");
    std::fs::write(&csv, "Path,Edema\nchest.png,1\nct.dcm,0\n").unwrap();
    let predictions = dir.join("predictions.csv");
    let run = |strict: bool| {
        let mut args = vec!["evaluate", "--json", "--model"];
        let manifest = demo_manifest();
        args.push(&manifest);
        let (csv, predictions) = (csv.display().to_string(), predictions.display().to_string());
        args.extend(["--labels", &csv, "--predictions", &predictions]);
        if strict {
            args.push("--strict");
        }
        let out = chexlens(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    assert_eq!(run(false)["images_scored"], 2);
    // The second run reads the warnings back from the predictions file.
    let strict = run(true);
    assert_eq!(strict["images_scored"], 1);
    assert_eq!(strict["skipped"][0]["path"], "ct.dcm");
    assert_eq!(
        strict["skipped"][0]["error"],
        "refused (--strict): a CT, not a chest radiograph"
    );
    let kept = std::fs::read_to_string(&predictions).unwrap();
    assert!(kept.lines().next().unwrap().ends_with(",Warnings"), "{kept}");
}

#[test]
fn the_demo_reference_statistics_are_made_again_from_their_images() {
    let dir = tempdir("write-reference");
    let manifest = dir.join("manifest.json");
    let demo = root().join("public/models/demo");
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(demo.join("manifest.json")).unwrap()).unwrap();
    let mut bare = committed.clone();
    bare.as_object_mut().unwrap().remove("reference_statistics");
    for member in bare["members"].as_array_mut().unwrap() {
        let name = member["weights"].as_str().unwrap().to_owned();
        member["weights"] = Value::String(demo.join(name).display().to_string());
    }
    std::fs::write(&manifest, serde_json::to_string_pretty(&bare).unwrap()).unwrap();
    let out_file = dir.join("reference.safetensors");
    let out = chexlens(&[
        "evaluate",
        "--write-reference",
        out_file.to_str().unwrap(),
        "--model",
        manifest.to_str().unwrap(),
        "--labels",
        root().join("tools/reference/demo_reference.csv").to_str().unwrap(),
        "--root",
        root().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    assert_eq!(written["reference_statistics"]["file"], "reference.safetensors");
    assert_eq!(
        written["members"], bare["members"],
        "nothing else in the manifest changes"
    );

    let made = from_bytes(&std::fs::read(&out_file).unwrap()).unwrap();
    let kept = from_bytes(&std::fs::read(demo.join("reference.safetensors")).unwrap()).unwrap();
    assert_eq!((made.images, made.percentile), (kept.images, kept.percentile));
    for (a, b) in made.members.iter().zip(&kept.members) {
        let close = |x: &[f32], y: &[f32]| x.iter().zip(y).all(|(p, q)| (p - q).abs() <= 1e-4 * (1.0 + q.abs()));
        assert!(close(&a.mean, &b.mean) && close(&a.distances, &b.distances));
        assert!(close(&a.precision, &b.precision) && close(&[a.threshold], &[b.threshold]));
    }

    // A file that is not the one the manifest names is refused by its sha256.
    std::fs::write(&out_file, b"not the statistics").unwrap();
    let refused = chexlens(&[
        "predict",
        "--model",
        manifest.to_str().unwrap(),
        fixture("xray_grey8.png").to_str().unwrap(),
    ]);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("reference.safetensors: sha256 is"));
}

#[test]
fn deploy_carries_the_reference_statistics_beside_the_members() {
    let dir = tempdir("deploy-reference");
    let out = chexlens(&["deploy", "--model", &demo_manifest(), "--out", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let deployed = dir.join("models/manifest.json");
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(&deployed).unwrap()).unwrap();
    assert_eq!(manifest["reference_statistics"]["file"], "reference.safetensors");
    let chest = fixture("xray_grey8.png");
    let (from_demo, _) = predict_json(&[&chest], &[]);
    let again = chexlens(&[
        "predict",
        "--json",
        "--model",
        deployed.to_str().unwrap(),
        chest.to_str().unwrap(),
    ]);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let line: Value = serde_json::from_slice(&again.stdout).unwrap();
    // f16 members move the features a little; the statistics are the same file.
    assert_eq!(
        line["typicality"]["thresholds"],
        from_demo[0]["typicality"]["thresholds"]
    );
}

#[test]
fn a_damaged_jpeg_is_decoded_as_pillow_decodes_it_and_warned_and_strict_refuses_it() {
    let (lines, out) = predict_json(&[&damaged_jpeg()], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let warning = lines[0]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["code"] == "damaged")
        .unwrap_or_else(|| panic!("no damaged warning: {}", lines[0]["warnings"]));
    let message = warning["message"].as_str().unwrap();
    assert!(
        message.starts_with("the file is damaged (premature end of data segment); it was decoded as Pillow"),
        "{message}"
    );
    let (kept, strict) = predict_json(&[&damaged_jpeg()], &["--strict"]);
    assert_eq!(strict.status.code(), Some(1));
    assert!(kept.is_empty());
    let stderr = String::from_utf8_lossy(&strict.stderr);
    assert!(
        stderr.contains("refused (--strict): ")
            && stderr.contains("the file is damaged (premature end of data segment)"),
        "{stderr}"
    );
}
