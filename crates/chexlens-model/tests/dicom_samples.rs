//! DICOM decoding against pydicom on real sample files (fetched, not
//! committed: `scripts/fetch-dicom-samples`, which `scripts/test` runs).

use chexlens_chexpert::metadata::{Projection, Sex, View};
use chexlens_images::dicom::{self, DicomError, GreyDisplay};
use chexlens_images::input::{ImageError, decode_xray};
use serde_json::Value;
use std::path::PathBuf;

fn samples_dir() -> PathBuf {
    std::env::var_os("CHEXLENS_DICOM_SAMPLES").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/dicom-samples"),
        PathBuf::from,
    )
}

fn index() -> Value {
    let path = samples_dir().join("reference/index.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run scripts/fetch-dicom-samples (scripts/test does) first",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("index.json parses")
}

fn sample_bytes(name: &str) -> Vec<u8> {
    std::fs::read(samples_dir().join("files").join(name)).expect("sample file")
}

fn reference_i32(name: &str) -> Vec<i32> {
    let bytes = std::fs::read(samples_dir().join("reference").join(format!("{name}.stored.i32"))).unwrap();
    bytes
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn reference_display(name: &str) -> Vec<u8> {
    std::fs::read(samples_dir().join("reference").join(format!("{name}.display.u8"))).unwrap()
}

fn samples() -> Vec<Value> {
    index()["samples"].as_array().expect("samples").clone()
}

fn max_abs_diff<T: Copy + Into<i64>>(a: &[T], b: &[T]) -> i64 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x.into() - y.into()).abs())
        .max()
        .unwrap_or(0)
}

fn first_frame(name: &str) -> dicom::DecodedFrame {
    let obj = dicom::open(&sample_bytes(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    dicom::decode_frame(&obj, 0).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn stored_values_equal_pydicom_for_every_transfer_syntax() {
    let mut syntaxes = std::collections::BTreeSet::new();
    for sample in samples() {
        let name = sample["file"].as_str().unwrap();
        let frame = first_frame(name);
        assert_eq!(frame.stored.width as u64, sample["columns"].as_u64().unwrap(), "{name}");
        assert_eq!(frame.stored.height as u64, sample["rows"].as_u64().unwrap(), "{name}");
        let expected = reference_i32(name);
        let diff = max_abs_diff(&frame.stored.values, &expected);
        if sample["lossy"].as_bool().unwrap() {
            // Lossy codecs: decoders may round their inverse transforms
            // differently; a few levels out of the stored range at most.
            let range = (sample["stored_max"].as_i64().unwrap() - sample["stored_min"].as_i64().unwrap()).max(1);
            assert!(
                diff * 100 <= range,
                "{name}: lossy decode differs by {diff} (range {range})"
            );
        } else {
            assert_eq!(diff, 0, "{name}: lossless decode differs from pydicom by {diff}");
        }
        syntaxes.insert(sample["transfer_syntax"].as_str().unwrap().to_owned());
    }
    // Implicit and explicit VR LE, big endian, deflated, RLE, JPEG baseline
    // and lossless, JPEG 2000 lossless and lossy.
    for uid in [
        "1.2.840.10008.1.2",
        "1.2.840.10008.1.2.1",
        "1.2.840.10008.1.2.2",
        "1.2.840.10008.1.2.1.99",
        "1.2.840.10008.1.2.5",
        "1.2.840.10008.1.2.4.50",
        "1.2.840.10008.1.2.4.70",
        "1.2.840.10008.1.2.4.90",
        "1.2.840.10008.1.2.4.91",
    ] {
        assert!(syntaxes.contains(uid), "no sample covers transfer syntax {uid}");
    }
}

#[test]
fn display_steps_match_pydicom_on_its_own_stored_values() {
    // The windowing pipeline alone: applied to pydicom's stored values, it
    // must give pydicom's windowed 8-bit image (within one level of rounding).
    for sample in samples().iter().filter(|s| s["grey"].as_bool().unwrap()) {
        let name = sample["file"].as_str().unwrap();
        let display: GreyDisplay = first_frame(name).display;
        let ours = display.to_8bit(&reference_i32(name));
        let diff = max_abs_diff(&ours, &reference_display(name));
        assert!(
            diff <= 1,
            "{name}: display differs by {diff} levels ({:?})",
            display.voi
        );
    }
}

#[test]
fn decoded_images_equal_the_reference_display_end_to_end() {
    for sample in samples() {
        let name = sample["file"].as_str().unwrap();
        if !sample["grey"].as_bool().unwrap() || sample["lossy"].as_bool().unwrap() {
            continue;
        }
        let loaded = decode_xray(&sample_bytes(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(loaded.image.is_grey(), "{name}");
        let diff = max_abs_diff(&loaded.image.planes[0], &reference_display(name));
        assert!(diff <= 1, "{name}: 8-bit image differs by {diff} levels");
    }
}

#[test]
fn viewer_levels_are_pydicoms_stored_values_and_redraw_the_decoded_image() {
    // What the viewer's window/level and pixel probe read: every grey
    // sample's stored values exactly as pydicom gives them, and, through
    // the window the decoder used (the file's first, else the full range),
    // the very 8-bit image the model sees.
    let mut checked = 0;
    for sample in samples().iter().filter(|s| s["grey"].as_bool().unwrap()) {
        let name = sample["file"].as_str().unwrap();
        let loaded = chexlens_images::input::decode_xray_frame_with_levels(&sample_bytes(name), 0).unwrap();
        let levels = loaded.levels.unwrap_or_else(|| panic!("{name}: no levels"));
        let stored: Vec<i32> = (0..levels.info.height)
            .flat_map(|y| (0..levels.info.width).map(move |x| (x, y)))
            .map(|(x, y)| levels.stored(x, y).unwrap())
            .collect();
        assert_eq!(stored, first_frame(name).stored.values, "{name}: stored values");
        // The rescale and the windows offered are pydicom's reading of the file.
        assert_eq!(levels.info.slope, sample["rescale_slope"].as_f64().unwrap(), "{name}");
        assert_eq!(
            levels.info.intercept,
            sample["rescale_intercept"].as_f64().unwrap(),
            "{name}"
        );
        let windows: Vec<[f64; 2]> = levels
            .info
            .file_windows
            .iter()
            .map(|w| [w.window.center, w.window.width])
            .collect();
        let expected: Vec<[f64; 2]> = serde_json::from_value(sample["windows"].clone()).unwrap();
        assert_eq!(windows, expected, "{name}: windows");
        if !sample["lossy"].as_bool().unwrap() {
            assert_eq!(stored, reference_i32(name), "{name}: stored values against pydicom");
        }
        let preview = levels.preview(64, 64);
        let Some(window) = preview.decoded_window() else {
            assert!(
                matches!(first_frame(name).display.voi, dicom::Voi::Lut { .. }),
                "{name}"
            );
            continue;
        };
        assert_eq!(levels.render(&window), loaded.image.planes[0], "{name}: {window:?}");
        checked += 1;
    }
    // All 19 grey samples but the one with a VOI LUT.
    assert!(checked >= 18, "only {checked} samples checked");
}

#[test]
fn ct_values_are_offered_in_hounsfield_units_with_ct_windows() {
    let levels = chexlens_images::input::decode_xray_frame_with_levels(&sample_bytes("CT_small.dcm"), 0)
        .unwrap()
        .levels
        .unwrap();
    assert_eq!(levels.info.unit.as_deref(), Some("HU"));
    assert_eq!(levels.info.intercept, -1024.0);
    let preview = levels.preview(32, 32);
    let stored = reference_i32("CT_small.dcm");
    let lowest = *stored.iter().min().unwrap() as f64 - 1024.0;
    let highest = *stored.iter().max().unwrap() as f64 - 1024.0;
    assert_eq!(
        (preview.low, preview.high),
        (lowest, highest),
        "pydicom's values, rescaled"
    );
    let names: Vec<&str> = preview.presets.iter().map(|p| p.name.as_str()).collect();
    assert!(names.iter().any(|n| n.starts_with("Lung")), "{names:?}");
}

#[test]
fn lossy_radiograph_stays_close_to_its_lossless_original() {
    // RG1 compressed with JPEG 2000 lossy against the uncompressed file.
    let lossless = decode_xray(&sample_bytes("RG1_UNCR.dcm")).unwrap().image;
    let lossy = decode_xray(&sample_bytes("RG1_J2KI.dcm")).unwrap().image;
    let diffs: Vec<i64> = lossless.planes[0]
        .iter()
        .zip(&lossy.planes[0])
        .map(|(&a, &b)| (a as i64 - b as i64).abs())
        .collect();
    let mean = diffs.iter().sum::<i64>() as f64 / diffs.len() as f64;
    assert!(mean < 1.0, "mean difference {mean}");
}

#[test]
fn monochrome1_is_inverted_so_that_bone_is_bright() {
    let name = "RG1_UNCR.dcm";
    let frame = first_frame(name);
    assert_eq!(frame.photometric.to_string(), "MONOCHROME1");
    assert!(frame.display.invert);
    let ours = decode_xray(&sample_bytes(name)).unwrap().image.planes.remove(0);
    let as_monochrome2 = GreyDisplay {
        invert: false,
        ..frame.display.clone()
    }
    .to_8bit(&frame.stored.values);
    assert!(
        ours.iter()
            .zip(&as_monochrome2)
            .all(|(&a, &b)| (a as i32 + b as i32 - 255).abs() <= 1)
    );
    // The lowest stored value (least attenuation in MONOCHROME1) is the
    // darkest display pixel... inverted: it must be the brightest.
    let (lowest, _) = frame.stored.values.iter().enumerate().min_by_key(|(_, v)| **v).unwrap();
    let (highest, _) = frame.stored.values.iter().enumerate().max_by_key(|(_, v)| **v).unwrap();
    assert!(ours[lowest] > ours[highest]);
    assert_eq!(ours[lowest], *ours.iter().max().unwrap());
}

#[test]
fn tags_fill_the_metadata_as_pydicom_reads_them() {
    for sample in samples() {
        let name = sample["file"].as_str().unwrap();
        let details = decode_xray(&sample_bytes(name)).unwrap().dicom.expect("a DICOM");
        let sex = match sample["patient_sex"].as_str() {
            Some("M") => Some(Sex::Male),
            Some("F") => Some(Sex::Female),
            _ => None,
        };
        assert_eq!(details.tags.sex, sex, "{name}");
        if let Some(age) = sample["patient_age"].as_str() {
            assert_eq!(
                details.tags.age,
                dicom::parse_age_string(age),
                "{name}: PatientAge {age}"
            );
        }
        let (view, projection) = sample["view_position"]
            .as_str()
            .map_or((None, None), dicom::map_view_position);
        assert_eq!(
            (details.tags.view, details.tags.projection),
            (view, projection),
            "{name}"
        );
    }
    // The chest radiograph: female, PA; no PatientAge, so the age comes from
    // its birth date (1940-03-05) and study date (2004-08-26).
    let rg1 = decode_xray(&sample_bytes("RG1_UNCR.dcm")).unwrap().dicom.unwrap();
    assert_eq!(rg1.tags.sex, Some(Sex::Female));
    assert_eq!(
        (rg1.tags.view, rg1.tags.projection),
        (Some(View::Frontal), Some(Projection::Pa))
    );
    assert_eq!(rg1.tags.age, Some(64.0));
    assert_eq!(rg1.tags.age_source.as_deref(), Some("birth date and study date"));
    assert_eq!(rg1.summary.body_part.as_deref(), Some("CHEST"));
}

#[test]
fn multi_frame_files_use_the_first_frame_and_say_so() {
    let loaded = decode_xray(&sample_bytes("emri_small_RLE.dcm")).unwrap();
    let details = loaded.dicom.unwrap();
    assert_eq!((details.summary.frames, details.summary.frame), (10, 1));
    assert!(
        details.notices.iter().any(|n| n.contains("10 frames; the first")),
        "{:?}",
        details.notices
    );
}

#[test]
fn every_frame_of_a_multi_frame_file_equals_pydicom() {
    let multi = index()["multi_frame"].as_array().expect("multi_frame").clone();
    assert!(multi.len() >= 3, "native, RLE and JPEG 2000 multi-frame samples");
    for sample in multi {
        let name = sample["file"].as_str().unwrap();
        let frames = sample["frames"].as_u64().unwrap() as u32;
        let all = std::fs::read(samples_dir().join("reference").join(format!("{name}.frames.i32"))).unwrap();
        let per_frame = all.len() / frames as usize;
        let bytes = sample_bytes(name);
        let obj = dicom::open(&bytes).unwrap();
        for k in 0..frames {
            let expected: Vec<i32> = all[k as usize * per_frame..(k as usize + 1) * per_frame]
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let frame = dicom::decode_frame(&obj, k).unwrap_or_else(|e| panic!("{name} frame {k}: {e}"));
            assert_eq!(
                frame.stored.values,
                expected,
                "{name}: frame {} as pydicom has it",
                k + 1
            );
        }
        assert_eq!(
            dicom::decode_frame(&obj, frames).err(),
            Some(DicomError::NoSuchFrame {
                asked: frames + 1,
                frames
            }),
            "{name}"
        );
        // Through the one entry for files: the frame is named in the summary and the notice.
        let third = chexlens_images::input::decode_xray_frame(&bytes, 2)
            .unwrap()
            .dicom
            .unwrap();
        assert_eq!(third.summary.frame, 3, "{name}");
        assert!(
            third.summary.describe().ends_with(&format!("frame 3 of {frames}")),
            "{name}"
        );
        assert!(
            third.notices.iter().any(|n| n.contains("frame 3 is analysed")),
            "{name}: {:?}",
            third.notices
        );
    }
}

#[test]
fn a_frame_past_the_first_of_a_png_is_refused_by_name() {
    let png = std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/xray_grey8.png")).unwrap();
    let err = chexlens_images::input::decode_xray_frame(&png, 1).unwrap_err();
    assert_eq!(err, ImageError::SingleFrame(2));
    assert!(err.to_string().contains("frame 2"), "{err}");
}

#[test]
fn files_without_the_preamble_read_the_same() {
    let bytes = sample_bytes("MR_small_implicit.dcm");
    let with = decode_xray(&bytes).unwrap().image;
    let without = decode_xray(&bytes[128..]).unwrap().image;
    assert_eq!(with, without);
}

#[test]
fn unsupported_transfer_syntax_is_named() {
    for entry in index()["unsupported"].as_array().unwrap() {
        let name = entry["file"].as_str().unwrap();
        let err = decode_xray(&sample_bytes(name)).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, ImageError::Dicom(DicomError::UnsupportedTransferSyntax { .. })),
            "{name}: {message}"
        );
        assert!(
            message.contains(entry["transfer_syntax"].as_str().unwrap()),
            "{message}"
        );
        assert!(message.contains(entry["phrase"].as_str().unwrap()), "{message}");
    }
}

/// Replaces the value of a US element (explicit VR little endian).
fn patch_us(bytes: &mut [u8], group: u16, element: u16, value: u16) {
    let mut pattern = Vec::new();
    pattern.extend_from_slice(&group.to_le_bytes());
    pattern.extend_from_slice(&element.to_le_bytes());
    pattern.extend_from_slice(b"US\x02\x00");
    let at = bytes
        .windows(pattern.len())
        .position(|w| w == pattern)
        .expect("element present");
    bytes[at + 8..at + 10].copy_from_slice(&value.to_le_bytes());
}

#[test]
fn bad_dicom_files_get_specific_errors() {
    let good = sample_bytes("RG1_UNCR.dcm");
    for cut in [140, 600, good.len() / 2, good.len() - 1] {
        let err = decode_xray(&good[..cut]).unwrap_err();
        assert!(
            matches!(err, ImageError::Dicom(DicomError::Corrupt(_) | DicomError::Decode(_))),
            "cut at {cut}: {err}"
        );
    }

    // A JPEG 2000 radiograph cut short: refused, not analysed half-grey.
    let j2k = sample_bytes("RG1_J2KR.dcm");
    let err = decode_xray(&j2k[..j2k.len() / 3]).unwrap_err();
    assert!(matches!(err, ImageError::Dicom(DicomError::Corrupt(_))), "{err}");

    let mut huge = good.clone();
    patch_us(&mut huge, 0x0028, 0x0010, 65_535);
    patch_us(&mut huge, 0x0028, 0x0011, 65_535);
    let err = decode_xray(&huge).unwrap_err();
    assert!(matches!(err, ImageError::Dicom(DicomError::TooLarge { .. })), "{err}");

    let mut empty = good.clone();
    patch_us(&mut empty, 0x0028, 0x0010, 0);
    let err = decode_xray(&empty).unwrap_err();
    assert!(matches!(err, ImageError::Dicom(DicomError::ZeroSize)), "{err}");

    // Claims more rows than the pixel data holds.
    let mut short = good.clone();
    patch_us(&mut short, 0x0028, 0x0010, 4000);
    let err = decode_xray(&short).unwrap_err();
    assert!(matches!(err, ImageError::Dicom(_)), "{err}");

    // The magic in the wrong place is not DICOM.
    let mut shifted = vec![0u8; 64];
    shifted.extend_from_slice(&good);
    assert!(matches!(decode_xray(&shifted).unwrap_err(), ImageError::UnknownFormat));
}
