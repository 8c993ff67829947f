//! The objects read back by dicom-rs's reader: the values put in are the
//! values found, in UTF-8; bad overlays and patient IDs are refused with
//! their reason. (DICOM's own tools check them in the CLI's and the page's
//! tests.)

use chexlens_chexpert::metadata::Metadata;
use chexlens_dicom_out::{LabelResult, Provenance, ResultSeries, Source, Timestamp};
use chexlens_images::cam::{CamLayer, CamMethod, CamSettings};
use chexlens_images::preprocess::InputConfig;
use dicom_dictionary_std::{tags, uids};
use dicom_object::DefaultDicomObject;

fn series(patient_name: &str) -> ResultSeries {
    let source = Source::new_study("RESEARCH-1", Some(patient_name)).unwrap();
    let provenance = Provenance::new(
        "a model",
        false,
        vec![Some("ab".repeat(32))],
        &Metadata::default(),
        &InputConfig::default(),
    );
    ResultSeries::new(source, provenance, Timestamp::from_unix_seconds(1_796_083_199)).unwrap()
}

fn text(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> String {
    obj.element(tag)
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches(['\0', ' '])
        .to_owned()
}

#[test]
fn a_report_reads_back_with_its_patient_in_utf8_and_its_values() {
    let series = series("Müller^Jörg");
    let results = [
        LabelResult {
            label: "Edema".into(),
            probability: 0.734_123_5,
            threshold: 0.5,
        },
        LabelResult {
            label: "Fracture".into(),
            probability: 1.0e-9,
            threshold: 0.5,
        },
    ];
    let bytes = series
        .report(&results, &["a CT of the head, not a chest radiograph".into()])
        .unwrap();
    let obj = chexlens_images::dicom::open(&bytes).unwrap();
    assert_eq!(text(&obj, tags::SOP_CLASS_UID), uids::COMPREHENSIVE_SR_STORAGE);
    assert_eq!(text(&obj, tags::PATIENT_NAME), "Müller^Jörg");
    assert_eq!(text(&obj, tags::PATIENT_ID), "RESEARCH-1");
    assert_eq!(text(&obj, tags::STUDY_INSTANCE_UID), series.source().study_instance_uid);
    assert_eq!(text(&obj, tags::CONTENT_DATE), "20261130");
    assert_eq!(text(&obj, tags::CONTENT_TIME), "235959");
    assert_eq!(text(&obj, tags::VERIFICATION_FLAG), "UNVERIFIED");
    assert!(
        obj.element(tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE)
            .is_err(),
        "no source image to name"
    );
    // The root's children: language, observer (4), procedure, measurements, evaluations.
    let content = obj.element(tags::CONTENT_SEQUENCE).unwrap().items().unwrap();
    assert_eq!(content.len(), 8);
    let groups = content[6].element(tags::CONTENT_SEQUENCE).unwrap().items().unwrap();
    assert_eq!(groups.len(), 2, "a group per label");
    let statements = content[7].element(tags::CONTENT_SEQUENCE).unwrap().items().unwrap();
    let statement = |i: usize| {
        statements[i]
            .element(tags::TEXT_VALUE)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    };
    assert!(statement(0).contains("not a diagnosis"));
    assert_eq!(statement(1), "Warning: a CT of the head, not a chest radiograph");
}

#[test]
fn a_capture_reads_back_pixel_for_pixel_and_bad_ones_are_refused() {
    let mut series = series("Doe^Jane");
    let rgb: Vec<u8> = (0..5 * 3 * 3).map(|i| (i * 11 % 256) as u8).collect();
    let bytes = series.capture("Edema", &rgb, 5, 3).unwrap();
    let obj = chexlens_images::dicom::open(&bytes).unwrap();
    assert_eq!(text(&obj, tags::SOP_CLASS_UID), uids::SECONDARY_CAPTURE_IMAGE_STORAGE);
    assert_eq!(text(&obj, tags::PHOTOMETRIC_INTERPRETATION), "RGB");
    assert_eq!(text(&obj, tags::IMAGE_TYPE), "DERIVED\\SECONDARY");
    let pixels = obj.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
    assert_eq!(&pixels[..rgb.len()], rgb.as_slice());
    assert_eq!(pixels.len(), rgb.len() + 1, "padded to even length");
    let derivation = text(&obj, tags::DERIVATION_DESCRIPTION);
    assert!(
        derivation.starts_with("Grad-CAM heat map of Edema at stages_3.blocks[-1].conv_dw"),
        "{derivation}"
    );

    // Another method and layer are named as they were made.
    let source = Source::new_study("RESEARCH-1", None).unwrap();
    let settings = CamSettings {
        method: CamMethod::LayerCam,
        layer: CamLayer::Stages2,
    };
    let provenance = Provenance::new(
        "a model",
        false,
        vec![None],
        &Metadata::default(),
        &InputConfig::default(),
    )
    .with_heat_maps(settings);
    let mut other = ResultSeries::new(source, provenance, Timestamp::from_unix_seconds(1_796_083_199)).unwrap();
    let obj = chexlens_images::dicom::open(&other.capture("Edema", &rgb, 5, 3).unwrap()).unwrap();
    let derivation = text(&obj, tags::DERIVATION_DESCRIPTION);
    assert!(
        derivation.starts_with("Layer-CAM heat map of Edema at stages_2.blocks[-1].conv_dw"),
        "{derivation}"
    );

    for (w, h, n) in [(0, 3, 0), (5, 3, 44), (70_000, 1, 210_000)] {
        let err = series.capture("Edema", &vec![0; n], w, h).unwrap_err().to_string();
        assert!(err.contains("cannot be a Secondary Capture"), "{err}");
    }
}

#[test]
fn a_new_study_refuses_ids_dicom_cannot_hold() {
    for id in ["", "  ", "a\\b", "line\nbreak", &"x".repeat(65)] {
        let err = Source::new_study(id, None).unwrap_err().to_string();
        assert!(
            err.contains("the patient ID must be 1 to 64 characters"),
            "{id:?}: {err}"
        );
    }
    let a = Source::new_study("P1", None).unwrap();
    let b = Source::new_study("P1", None).unwrap();
    assert_ne!(a.study_instance_uid, b.study_instance_uid, "each a new study");
}

/// Found by the `dicom_out` fuzz target: a Study Instance UID holding
/// spaces and a non-ASCII byte made the SR unwritable; it is now refused
/// when the source is read, naming the attribute.
#[test]
fn a_source_whose_uid_is_not_one_is_refused_by_name() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/regressions/fuzz_study_uid_not_a_uid.dcm"
    ))
    .unwrap();
    let err = Source::from_dicom(&bytes).unwrap_err().to_string();
    assert_eq!(
        err,
        "the source DICOM file's Study Instance UID is not a UID (digits and dots, at most 64): its results cannot reference it"
    );
}

#[test]
fn file_names_keep_the_stem_whole_and_name_labels_as_cam_pngs_do() {
    use chexlens_dicom_out::{capture_file_name, report_file_name};
    assert_eq!(report_file_name("RG1"), "RG1_report.dcm");
    assert_eq!(capture_file_name("RG1", "Pleural Effusion"), "RG1_pleural_effusion.dcm");
    // A stem holding ".png" stays as it is (a text replacement once mangled it).
    assert_eq!(capture_file_name("scan.png", "Edema"), "scan.png_edema.dcm");
}
