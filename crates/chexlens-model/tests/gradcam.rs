//! Grad-CAM against pytorch-grad-cam (maps from the committed generator).

mod common;

use chexlens_checkpoints::manifest::ModelSettings;
use chexlens_checkpoints::weights::StateDict;
use chexlens_images::cam::CamMap;
use chexlens_images::input::decode_image;
use chexlens_images::preprocess::InputConfig;
use chexlens_model::gradcam::CamSettings;
use chexlens_model::{Device, Ensemble, wait};
use common::*;
use serde_json::Value;

fn gradcam_reference() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("gradcam.json")).unwrap()).unwrap()
}

fn ensemble() -> Ensemble {
    let members = ["tiny_m0.pth", "tiny_m1_checkpoint.pth", "tiny_m2.pth"]
        .iter()
        .map(|f| StateDict::from_file(&fixture(f)).unwrap())
        .collect();
    Ensemble::from_state_dicts(members, None, ModelSettings::default(), Device::flex()).unwrap()
}

fn grid(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().flat_map(floats).collect()
}

/// Maps for `labels` from each member, on the reference's own resized image.
fn member_maps(ensemble: &Ensemble, reference: &Value, labels: &[usize]) -> Vec<Vec<CamMap>> {
    let image = decode_image(&std::fs::read(fixture(reference["image"].as_str().unwrap())).unwrap()).unwrap();
    let input = InputConfig::default();
    let metadata = metadata_case(reference["metadata_case"].as_str().unwrap());
    let (images, meta) = ensemble.inputs_from_normalised(input.prepare(&image), 384, &metadata);
    let analysis = wait(ensemble.analyse_inputs(images, meta)).unwrap();
    wait(ensemble.member_heat_maps(&analysis, labels, CamSettings::default())).unwrap()
}

#[test]
fn member_maps_match_pytorch_grad_cam() {
    let reference = gradcam_reference();
    let labels = label_indices(&reference);
    let maps = member_maps(&ensemble(), &reference, &labels);
    for (m, member_maps) in maps.iter().enumerate() {
        for (map, label) in member_maps.iter().zip(&labels) {
            assert_eq!((map.width, map.height), (12, 12));
            let expected = grid(&reference["members"][format!("tiny_m{m}")][label.to_string()]);
            let diff = max_abs_diff(&map.values, &expected);
            assert!(diff <= 1e-3, "member {m} label {label}: map differs by {diff}");
        }
    }
}

#[test]
fn ensemble_maps_and_upsampling_match() {
    let reference = gradcam_reference();
    let labels = label_indices(&reference);
    let maps = member_maps(&ensemble(), &reference, &labels);
    let read_f32 = |name: &str| -> Vec<f32> {
        std::fs::read(fixture(name))
            .unwrap()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    };
    for (i, label) in labels.iter().enumerate() {
        let per_member: Vec<CamMap> = maps.iter().map(|m| m[i].clone()).collect();
        let combined = CamMap::ensemble(&per_member).unwrap();
        let diff = max_abs_diff(&combined.values, &grid(&reference["ensemble"][label.to_string()]));
        assert!(diff <= 1e-3, "ensemble label {label}: map differs by {diff}");
    }
    let up = &reference["upsampled"];
    let label = up["label"].as_u64().unwrap() as usize;
    let i = labels.iter().position(|&l| l == label).unwrap();
    let member = maps[0][i].upsampled(384, 384);
    let diff = max_abs_diff(&member.values, &read_f32(up["member"].as_str().unwrap()));
    assert!(
        diff <= 1e-2,
        "upsampled member map differs from pytorch-grad-cam's by {diff}"
    );
    let per_member: Vec<CamMap> = maps.iter().map(|m| m[i].clone()).collect();
    let ens = CamMap::ensemble(&per_member).unwrap().upsampled(384, 384);
    let diff = max_abs_diff(&ens.values, &read_f32(up["ensemble"].as_str().unwrap()));
    assert!(diff <= 1e-2, "upsampled ensemble map differs by {diff}");
}
