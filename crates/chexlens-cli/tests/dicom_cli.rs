//! `chexlens predict` on real DICOM files (fetched by
//! `scripts/fetch-dicom-samples`, which `scripts/test` runs).

mod common;

use common::{chexlens, root, tempdir};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Output;

fn samples() -> PathBuf {
    let dir =
        std::env::var_os("CHEXLENS_DICOM_SAMPLES").map_or_else(|| root().join("target/dicom-samples"), PathBuf::from);
    assert!(
        dir.join("reference/index.json").exists(),
        "{} is missing: run scripts/fetch-dicom-samples (scripts/test does) first",
        dir.display()
    );
    dir
}

fn demo_manifest() -> String {
    root().join("public/models/demo/manifest.json").display().to_string()
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn probabilities(line: &Value) -> Vec<f64> {
    let map = line["probabilities"].as_object().unwrap();
    map.values().map(|v| v.as_f64().unwrap()).collect()
}

#[test]
fn a_dicom_is_analysed_as_pydicoms_image_with_metadata_from_its_tags() {
    let dir = samples();
    let tmp = tempdir("dicom_cli_parity");
    // The same radiograph as pydicom displays it, as a PNG.
    let display = std::fs::read(dir.join("reference/RG1_J2KR.dcm.display.u8")).unwrap();
    let png = tmp.join("rg1_pydicom.png");
    image::save_buffer(&png, &display, 1841, 1955, image::ExtendedColorType::L8).unwrap();
    // And the DICOM under a name without an extension: the DICM magic decides.
    let bare = tmp.join("RG1");
    std::fs::copy(dir.join("files/RG1_J2KR.dcm"), &bare).unwrap();

    let manifest = demo_manifest();
    let from_dicom = chexlens(&["predict", "--json", "--model", &manifest, bare.to_str().unwrap()]);
    assert!(
        from_dicom.status.success(),
        "{}",
        String::from_utf8_lossy(&from_dicom.stderr)
    );
    let line = &json_lines(&from_dicom)[0];
    assert_eq!(
        line["metadata"],
        serde_json::json!({"sex": "female", "age": 64.0, "view": "frontal", "projection": "pa"})
    );
    assert_eq!(line["dicom"]["summary"]["photometric"], "MONOCHROME1");
    assert_eq!(line["dicom"]["tags"]["view_position"], "PA");

    let from_png = chexlens(&[
        "predict",
        "--json",
        "--model",
        &manifest,
        "--sex",
        "female",
        "--age",
        "64",
        "--view",
        "frontal",
        "--projection",
        "pa",
        png.to_str().unwrap(),
    ]);
    assert!(from_png.status.success());
    let (a, b) = (probabilities(line), probabilities(&json_lines(&from_png)[0]));
    let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    assert!(diff < 1e-4, "DICOM and pydicom's image differ by {diff}");
}

#[test]
fn flags_override_the_files_tags() {
    let dir = samples();
    let file = dir.join("files/RG1_UNCR.dcm");
    let out = chexlens(&[
        "predict",
        "--json",
        "--model",
        &demo_manifest(),
        "--sex",
        "male",
        "--view",
        "lateral",
        "--projection",
        "none",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let line = &json_lines(&out)[0];
    assert_eq!(
        line["metadata"],
        serde_json::json!({"sex": "male", "age": 64.0, "view": "lateral", "projection": "none"})
    );
}

#[test]
fn bad_dicom_files_get_one_line_each_and_the_batch_goes_on() {
    let dir = samples();
    let tmp = tempdir("dicom_cli_bad");
    let good = dir.join("files/MR_small_implicit.dcm");
    let bytes = std::fs::read(dir.join("files/RG1_UNCR.dcm")).unwrap();
    let truncated = tmp.join("truncated.dcm");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let unsupported = dir.join("files/unsupported_jpeg2000_part2.dcm");
    let out = chexlens(&[
        "predict",
        "--model",
        &demo_manifest(),
        truncated.to_str().unwrap(),
        unsupported.to_str().unwrap(),
        good.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| !l.contains("demonstration")).collect();
    assert_eq!(errors.len(), 2, "{stderr}");
    assert!(
        errors[0].contains("truncated.dcm: the DICOM file is truncated or corrupt"),
        "{stderr}"
    );
    assert!(
        errors[1].contains("JPEG 2000 Part 2") && errors[1].contains("(1.2.840.10008.1.2.4.92) is not supported"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("MR_small_implicit.dcm"),
        "the good file is still analysed: {stdout}"
    );
    assert!(stdout.contains("from the file: sex female"), "{stdout}");
}

#[test]
fn frame_picks_a_multi_frame_files_frame_and_bad_frames_are_named() {
    let file = samples().join("files/emri_small.dcm");
    let file = file.to_str().unwrap();
    let manifest = demo_manifest();
    let run =
        |frame: &str, image: &str| chexlens(&["predict", "--json", "--model", &manifest, "--frame", frame, image]);

    let first = run("1", file);
    let fourth = run("4", file);
    assert!(fourth.status.success(), "{}", String::from_utf8_lossy(&fourth.stderr));
    let (first, fourth) = (&json_lines(&first)[0], &json_lines(&fourth)[0]);
    assert_eq!(first["dicom"]["summary"]["frame"], 1);
    assert_eq!(fourth["dicom"]["summary"]["frame"], 4);
    assert!(
        fourth["dicom"]["notices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("10 frames; frame 4 is analysed")),
        "{}",
        fourth["dicom"]["notices"]
    );
    assert_ne!(
        probabilities(first),
        probabilities(fourth),
        "another frame, another picture"
    );

    let past = run("11", file);
    assert!(!past.status.success());
    let stderr = String::from_utf8_lossy(&past.stderr);
    assert!(
        stderr.contains("frame 11 was asked for, but the DICOM file has 10 frame(s)"),
        "{stderr}"
    );

    let png = root().join("crates/chexlens-model/tests/fixtures/xray_grey8.png");
    let png_frame = run("2", png.to_str().unwrap());
    assert!(!png_frame.status.success());
    let stderr = String::from_utf8_lossy(&png_frame.stderr);
    assert!(
        stderr.contains("frame 2 was asked for, but PNG and JPEG files hold one image"),
        "{stderr}"
    );

    let zero = run("0", file);
    assert!(!zero.status.success(), "frames count from 1");
}

#[test]
fn jpeg_ls_files_are_analysed_as_their_uncompressed_twins() {
    // pydicom's samples: the same MR image and the same 10-frame series,
    // uncompressed and JPEG-LS lossless; the numbers must not tell them apart.
    let dir = samples();
    let manifest = demo_manifest();
    for (plain, compressed, frame) in [
        ("MR_small.dcm", "MR_small_jpeg_ls_lossless.dcm", "1"),
        ("emri_small.dcm", "emri_small_jpeg_ls_lossless.dcm", "4"),
    ] {
        let run = |name: &str| {
            let file = dir.join("files").join(name);
            let out = chexlens(&[
                "predict",
                "--json",
                "--frame",
                frame,
                "--model",
                &manifest,
                file.to_str().unwrap(),
            ]);
            assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
            json_lines(&out).remove(0)
        };
        let (expected, got) = (run(plain), run(compressed));
        assert_eq!(probabilities(&got), probabilities(&expected), "{compressed}");
        assert!(
            got["dicom"]["summary"]["transfer_syntax"]
                .as_str()
                .unwrap()
                .contains("JPEG-LS")
        );
    }
}
