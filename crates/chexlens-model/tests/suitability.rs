//! Real files that are not chest radiographs are warned, with the reason
//! named; every chest radiograph the other tests use is not. The DICOM
//! samples are pydicom's and the WG04 set (`scripts/fetch-dicom-samples`);
//! the photographs are scikit-image's, in chexlens-jpeg's fixtures.

use chexlens_images::input::decode_xray;
use chexlens_images::suitability::{Warning, WarningCode};
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn warnings_of(path: PathBuf) -> Vec<Warning> {
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    decode_xray(&bytes)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .warnings
}

fn dicom(name: &str) -> Vec<Warning> {
    let dir =
        std::env::var_os("CHEXLENS_DICOM_SAMPLES").map_or_else(|| root().join("target/dicom-samples"), PathBuf::from);
    warnings_of(dir.join("files").join(name))
}

fn codes(warnings: &[Warning]) -> Vec<WarningCode> {
    warnings.iter().map(|w| w.code).collect()
}

#[test]
fn ct_mr_and_ultrasound_are_named_as_what_they_are() {
    // Modality and Body Part Examined as pydicom reads them from each file.
    let ct = dicom("CT_small.dcm");
    assert_eq!(codes(&ct), [WarningCode::NotRadiograph]);
    assert_eq!(ct[0].message, "a CT, not a chest radiograph");
    let head = dicom("J2K_pixelrep_mismatch.dcm"); // CT, HEAD
    assert_eq!(head[0].message, "a CT of the head, not a chest radiograph");
    let mr = dicom("MR_small.dcm");
    assert_eq!(mr[0].message, "an MR image, not a chest radiograph");
    let mr_head = dicom("emri_small.dcm"); // MR, HEAD, 10 frames
    assert_eq!(codes(&mr_head), [WarningCode::NotRadiograph, WarningCode::MultiFrame]);
    assert!(mr_head[1].message.contains("one frame of 10"), "{mr_head:?}");
    let us = dicom("US1_UNCR.dcm"); // US, RGB
    assert_eq!(codes(&us), [WarningCode::NotRadiograph, WarningCode::Colour]);
    assert!(us[1].message.contains("RGB"), "{us:?}");
    // NM, WHOLE BODY, 256 wide and 1024 tall.
    let nm = dicom("JPEG-LL.dcm");
    assert_eq!(codes(&nm), [WarningCode::NotRadiograph, WarningCode::AspectRatio]);
    assert!(nm[0].message.contains("of the whole body"), "{nm:?}");
}

#[test]
fn a_radiograph_of_another_body_part_is_warned() {
    let hand = dicom("RG3_UNCR.dcm"); // CR, EXTREMITY
    assert_eq!(codes(&hand), [WarningCode::NotChest]);
    assert_eq!(
        hand[0].message,
        "a radiograph of the extremity (Body Part Examined), not of the chest"
    );
}

#[test]
fn colour_photographs_are_warned_and_tinted_radiographs_are_not() {
    let photos = root().join("crates/chexlens-jpeg/tests/fixtures/jpeg");
    for name in ["coffee_444_q95.jpg", "chelsea_440.jpg", "astronaut_420_q90.jpg"] {
        let found = warnings_of(photos.join(name));
        assert!(found.iter().any(|w| w.code == WarningCode::Colour), "{name}: {found:?}");
        assert!(found[0].message.starts_with("a colour photograph"), "{name}: {found:?}");
    }
    // A grey radiograph stored as colour JPEG: no chroma at all.
    assert!(warnings_of(photos.join("chest_rg1_rgb_420.jpg")).is_empty());
}

#[test]
fn the_chest_radiographs_the_tests_use_are_not_warned() {
    let fixtures = root().join("crates/chexlens-model/tests/fixtures");
    for name in [
        "xray_grey.jpg",
        "xray_grey8.png",
        "xray_grey16.png",
        "xray_rgb.png",
        "xray_rgba.png",
        "resized_xray_rgb.png",
    ] {
        assert_eq!(warnings_of(fixtures.join(name)), [], "{name}");
    }
    for name in ["RG1_UNCR.dcm", "RG1_J2KR.dcm", "RG1_J2KI.dcm"] {
        assert_eq!(dicom(name), [], "{name}");
    }
    let jpegs = root().join("crates/chexlens-jpeg/tests/fixtures/jpeg");
    assert_eq!(warnings_of(jpegs.join("chest_rg1_grey_q90.jpg")), []);
}
