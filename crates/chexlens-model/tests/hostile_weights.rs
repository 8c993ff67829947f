//! Broken and hostile weight files: each gives its own error, none panics,
//! and nothing inside a file is executed.

mod common;

use chexlens_checkpoints::architecture::ArchitectureConfig;
use chexlens_checkpoints::weights::{StateDict, WeightError, WeightErrorKind};
use common::fixture;

/// Reads and validates a fixture as the loaders do.
fn load(name: &str) -> Result<(), WeightError> {
    let weights = StateDict::from_file(&fixture(name))?;
    ArchitectureConfig::with_backbone(vec![1, 1, 2, 1], vec![16, 32, 48, 64]).validate(&weights)
}

fn error_of(name: &str) -> WeightError {
    let err = load(name).expect_err("must be refused");
    assert!(err.to_string().contains(name), "message names the file: {err}");
    err
}

#[test]
fn good_fixture_validates() {
    load("tiny_m0.pth").unwrap();
}

#[test]
fn truncated_pth_is_a_damaged_archive() {
    assert!(matches!(
        error_of("bad_truncated.pth").kind,
        WeightErrorKind::DamagedArchive(_)
    ));
}

#[test]
fn wrong_shape_names_the_key_and_both_shapes() {
    let err = error_of("bad_wrong_shape.pth");
    assert_eq!(
        err.kind,
        WeightErrorKind::ShapeMismatch {
            key: "classifier.weight".into(),
            expected: vec![14, 96],
            found: vec![14, 7]
        }
    );
}

#[test]
fn missing_key_is_named() {
    assert_eq!(
        error_of("bad_missing_key.pth").kind,
        WeightErrorKind::MissingKeys(vec!["cbam.spatial_attention.0.weight".into()])
    );
}

#[test]
fn extra_key_is_named() {
    assert_eq!(
        error_of("bad_extra_key.pth").kind,
        WeightErrorKind::UnexpectedKeys(vec!["head.fc.weight".into()])
    );
}

#[test]
fn nan_is_reported_with_its_key() {
    assert_eq!(
        error_of("bad_nan.pth").kind,
        WeightErrorKind::NonFinite {
            key: "convnext_backbone.stages_2.blocks.1.mlp.fc1.weight".into(),
            count: 1
        }
    );
}

#[test]
fn pickle_naming_os_system_is_refused_by_name() {
    // Python's pickle writes os.system as posix.system on Linux.
    let err = error_of("bad_os_system.pth");
    assert_eq!(
        err.kind,
        WeightErrorKind::ForbiddenGlobal {
            module: "posix".into(),
            name: "system".into()
        }
    );
    assert!(err.to_string().contains("posix.system"));
}

#[test]
fn safetensors_claiming_more_bytes_than_the_file_has_is_refused() {
    let err = error_of("bad_safetensors_overclaim.safetensors");
    assert!(matches!(err.kind, WeightErrorKind::SizeMismatch { .. }), "{err}");
}

#[test]
fn safetensors_header_length_past_the_end_is_refused() {
    let mut bytes = (u64::MAX / 2).to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{\"a\": 1}");
    let err = StateDict::from_bytes(&bytes, "huge-header.safetensors").unwrap_err();
    assert!(
        matches!(err.kind, WeightErrorKind::SizeMismatch { ref key, .. } if key == "header"),
        "{err}"
    );
}

#[test]
fn every_truncation_of_a_pth_fails_cleanly() {
    let bytes = std::fs::read(fixture("tiny_m0_f16.pth")).unwrap();
    for cut in (0..bytes.len()).step_by(997) {
        assert!(
            StateDict::from_bytes(&bytes[..cut], "cut.pth").is_err(),
            "truncated at {cut} was accepted"
        );
    }
}

#[test]
fn every_truncation_of_a_safetensors_fails_cleanly() {
    let bytes = std::fs::read(fixture("tiny_m0_f16.safetensors")).unwrap();
    for cut in (0..bytes.len()).step_by(991) {
        assert!(
            StateDict::from_bytes(&bytes[..cut], "cut.safetensors").is_err(),
            "truncated at {cut} was accepted"
        );
    }
}

#[test]
fn storage_size_claims_are_checked_against_the_archive() {
    // Rewrite the pickle's claimed element count of the first storage: the
    // archive entry no longer matches it.
    let bytes = std::fs::read(fixture("tiny_m0.pth")).unwrap();
    let weights = StateDict::from_bytes(&bytes, "ok.pth").unwrap();
    assert!(!weights.tensors.is_empty());
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes[..])).unwrap();
    let names: Vec<String> = archive.file_names().map(str::to_string).collect();
    let pkl = names.iter().find(|n| n.ends_with("data.pkl")).unwrap().clone();
    let mut pickle = Vec::new();
    std::io::Read::read_to_end(&mut archive.by_name(&pkl).unwrap(), &mut pickle).unwrap();
    // The stem conv of 16x3x4x4 = 768 elements is pickled as BININT2 768 (M\x00\x03)
    // right after its location string 'cpu'.
    let needle = b"X\x03\x00\x00\x00cpuq";
    let at = pickle
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("a storage record");
    let count_at = pickle[at..]
        .iter()
        .position(|&b| b == b'M' || b == b'J' || b == b'K')
        .unwrap()
        + at;
    pickle[count_at + 1] = pickle[count_at + 1].wrapping_add(1);

    let mut out = std::io::Cursor::new(Vec::new());
    let mut writer = zip::ZipWriter::new(&mut out);
    for name in &names {
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        writer.start_file(name.as_str(), options).unwrap();
        let data = if *name == pkl {
            pickle.clone()
        } else {
            let mut d = Vec::new();
            std::io::Read::read_to_end(&mut archive.by_name(name).unwrap(), &mut d).unwrap();
            d
        };
        std::io::Write::write_all(&mut writer, &data).unwrap();
    }
    writer.finish().unwrap();
    let err = StateDict::from_bytes(out.get_ref(), "lying.pth").unwrap_err();
    assert!(matches!(err.kind, WeightErrorKind::SizeMismatch { .. }), "{err}");
}
