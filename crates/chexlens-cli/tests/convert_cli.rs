//! `chexlens convert` against PyTorch's own f16 file and the original
//! checkpoint's predictions.

mod common;

use chexlens_checkpoints::weights::StateDict;
use common::{chexlens, fixture, path, tempdir};
use serde_json::Value;
use std::path::Path;

fn probabilities(weights: &Path, image: &str) -> Vec<f64> {
    let out = chexlens(&["predict", "--json", "--weights", weights.to_str().unwrap(), image]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    line["probabilities"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

#[test]
fn f16_conversion_equals_pytorchs_half_and_drifts_little() {
    let dir = tempdir("convert_f16");
    let output = dir.join("m1_f16.safetensors");
    let (grey, rgb) = (path("xray_grey.jpg"), path("xray_rgb.png"));
    let out = chexlens(&[
        "convert",
        &path("tiny_m0.pth"),
        "-o",
        output.to_str().unwrap(),
        "--f16",
        "--check",
        &format!("{grey},{rgb}"),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("(f16, "), "{report}");
    assert_eq!(report.matches("largest probability change on").count(), 2, "{report}");

    // PyTorch's `state_dict().half()` of the same model, saved by the generator:
    // every tensor must round the same way (nearest, ties to even).
    let ours = StateDict::from_file(&output).unwrap();
    let theirs = StateDict::from_file(&fixture("tiny_m0_f16.safetensors")).unwrap();
    assert_eq!(ours.tensors.len(), theirs.tensors.len());
    for (name, tensor) in &theirs.tensors {
        let mine = &ours.tensors[name];
        assert_eq!(mine.stored_as.name(), "f16", "{name}");
        assert_eq!(mine.shape, tensor.shape, "{name}");
        assert_eq!(mine.data, tensor.data, "{name}: the same f16 values as PyTorch's");
    }

    let size = |p: &Path| std::fs::metadata(p).unwrap().len() as f64;
    let ratio = size(&output) / size(&fixture("tiny_m0.safetensors"));
    assert!((0.45..0.55).contains(&ratio), "f16 is half the f32 bytes: {ratio}");
    for image in [&grey, &rgb] {
        let before = probabilities(&fixture("tiny_m0.pth"), image);
        let after = probabilities(&output, image);
        let drift = before
            .iter()
            .zip(&after)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(drift > 0.0 && drift <= 0.005, "{image}: drift {drift}");
    }
}

#[test]
fn f32_conversion_is_exact_and_keeps_only_the_models_tensors() {
    let dir = tempdir("convert_f32");
    let output = dir.join("m1.safetensors");
    // A training checkpoint (state dict under "model_state_dict", an epoch beside it).
    let input = fixture("tiny_m1_checkpoint.pth");
    let out = chexlens(&["convert", input.to_str().unwrap(), "-o", output.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("largest probability change on the bench input: 0"));

    let original = StateDict::from_file(&input).unwrap();
    let converted = StateDict::from_file(&output).unwrap();
    assert_eq!(converted.tensors.len(), original.tensors.len());
    for (name, tensor) in &original.tensors {
        assert_eq!(converted.tensors[name].data, tensor.data, "{name}");
    }
    let image = path("xray_grey8.png");
    assert_eq!(probabilities(&input, &image), probabilities(&output, &image));
}

#[test]
fn bad_requests_get_a_message_and_leave_no_file() {
    let dir = tempdir("convert_bad");
    let cases = [
        (
            path("tiny_m0.pth"),
            dir.join("out.bin"),
            "the output must be a .safetensors file",
        ),
        (
            path("bad_truncated.pth"),
            dir.join("out.safetensors"),
            "bad_truncated.pth",
        ),
        (
            path("bad_os_system.pth"),
            dir.join("out.safetensors"),
            "bad_os_system.pth",
        ),
        (
            path("tiny_m2.safetensors"),
            fixture("tiny_m2.safetensors"),
            "the output would replace the input",
        ),
    ];
    for (input, output, message) in cases {
        let out = chexlens(&["convert", &input, "-o", output.to_str().unwrap()]);
        assert!(!out.status.success(), "{input} -> {}", output.display());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("chexlens: ") && stderr.contains(message), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "nothing written");
}
