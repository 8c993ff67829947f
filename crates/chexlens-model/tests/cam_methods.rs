//! Every explanation method at both layers, and the faithfulness figures,
//! against pytorch-grad-cam (tools/reference/cam_methods_reference.py): on
//! the committed tiny members, or, with `CHEXLENS_CAM_REFERENCE=DIR`, on
//! the full-size member and real radiograph that generator's `--full`
//! wrote into DIR (tools/reference/check_full_size.py sets it).

mod common;

use chexlens_checkpoints::manifest::ModelSettings;
use chexlens_checkpoints::weights::StateDict;
use chexlens_images::cam::CamMap;
use chexlens_images::input::decode_image;
use chexlens_images::preprocess::InputConfig;
use chexlens_model::faithfulness::{self, Scope};
use chexlens_model::gradcam::{self, CamLayer, CamMethod, CamSettings};
use chexlens_model::{Analysis, Device, Ensemble, wait};
use common::*;
use serde_json::Value;
use std::path::PathBuf;

/// A file of the reference in use: the committed fixtures, or the full-size check's folder.
fn reference_file(name: &str) -> PathBuf {
    match std::env::var_os("CHEXLENS_CAM_REFERENCE") {
        Some(dir) => PathBuf::from(dir).join(name),
        None => fixture(name),
    }
}

fn cam_reference() -> Value {
    let name = match std::env::var_os("CHEXLENS_CAM_REFERENCE") {
        Some(_) => "full_cam_methods.json",
        None => "cam_methods.json",
    };
    serde_json::from_str(&std::fs::read_to_string(reference_file(name)).unwrap()).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn ensemble(reference: &Value) -> Ensemble {
    let members = strings(&reference["member_files"])
        .iter()
        .map(|f| StateDict::from_file(&reference_file(f)).unwrap())
        .collect();
    Ensemble::from_state_dicts(members, None, ModelSettings::default(), Device::flex()).unwrap()
}

/// The ensemble's analysis of the reference's own resized image, and its input.
fn analysis(ensemble: &Ensemble, reference: &Value) -> (Analysis, Vec<f32>) {
    let image = decode_image(&std::fs::read(reference_file(reference["image"].as_str().unwrap())).unwrap()).unwrap();
    let pixels = InputConfig::default().prepare(&image);
    let metadata = metadata_case(reference["metadata_case"].as_str().unwrap());
    let (images, meta) = ensemble.inputs_from_normalised(pixels.clone(), 384, &metadata);
    (wait(ensemble.analyse_inputs(images, meta)).unwrap(), pixels)
}

#[test]
fn every_method_at_both_layers_matches_pytorch_grad_cam() {
    let reference = cam_reference();
    let labels = label_indices(&reference);
    let ensemble = ensemble(&reference);
    let names = strings(&reference["member_names"]);
    let (analysis, _) = analysis(&ensemble, &reference);
    let (mut compared, mut empty, mut worst) = (0, 0, 0f32);
    for layer in CamLayer::ALL {
        let side = match layer {
            CamLayer::Last => 12,
            CamLayer::Stages2 => 24,
        };
        for method in CamMethod::ALL {
            if method == CamMethod::HiResCam {
                continue;
            }
            let settings = CamSettings { method, layer };
            let maps = wait(ensemble.member_heat_maps(&analysis, &labels, settings)).unwrap();
            for (m, member_maps) in maps.iter().enumerate() {
                for (map, label) in member_maps.iter().zip(&labels) {
                    let expected = &reference["maps"][&names[m]][layer.name()][method.name()][label.to_string()];
                    let expected: Vec<f32> = expected.as_array().unwrap().iter().flat_map(floats).collect();
                    assert_eq!((map.width, map.height), (side, side), "{method:?} at {layer:?}");
                    // A map can be all zero (every position negative before the
                    // ReLU); a reference of mostly such maps would prove little.
                    empty += usize::from(expected.iter().all(|&v| v == 0.0));
                    let diff = max_abs_diff(&map.values, &expected);
                    worst = worst.max(diff);
                    assert!(
                        diff <= 1e-3,
                        "{} at {}, member {m}, label {label}: differs by {diff}",
                        method.name(),
                        layer.name()
                    );
                    compared += 1;
                }
            }
        }
    }
    assert_eq!(compared, 2 * 7 * names.len() * labels.len());
    assert!(empty * 10 < compared, "{empty} of {compared} reference maps are empty");
    println!("{compared} maps, largest difference from pytorch-grad-cam {worst:.2e}");
}

/// Both layers feed a LayerNorm, which ignores its input's scale and shift,
/// so gradient . activation sums to zero at every position but for the
/// LayerNorm's epsilon: HiResCAM's map is rounding noise, in pytorch-grad-cam
/// and here alike (what `CamMethod::caveat` tells users). Its scaled noise is
/// not compared; its size is.
#[test]
fn hirescam_vanishes_before_a_layer_norm_as_in_pytorch_grad_cam() {
    let reference = cam_reference();
    let labels = label_indices(&reference);
    let ensemble = ensemble(&reference);
    let names = strings(&reference["member_names"]);
    let image = decode_image(&std::fs::read(reference_file(reference["image"].as_str().unwrap())).unwrap()).unwrap();
    let images = ensemble
        .inputs_from_normalised(InputConfig::default().prepare(&image), 384, &Default::default())
        .0;
    for (m, member) in ensemble.members.iter().enumerate() {
        let state = member.backbone_state(images.clone());
        for layer in CamLayer::ALL {
            let settings = CamSettings {
                method: CamMethod::HiResCam,
                layer,
            };
            let (ours, _) = wait(gradcam::raw_maps(member, &state, &labels, settings)).unwrap();
            for (i, label) in labels.iter().enumerate() {
                let key = format!("{}/{}/{label}", names[m], layer.name());
                let [theirs, scale] =
                    [0, 1].map(|j| reference["hirescam_magnitudes"][&key][j].as_f64().unwrap() as f32);
                let n = ours.len() / labels.len();
                let largest = ours[i * n..(i + 1) * n].iter().copied().fold(0f32, f32::max);
                assert!(
                    scale > 1e-3,
                    "{key}: gradient x activation itself is not small ({scale})"
                );
                assert!(theirs <= 1e-4 * scale, "{key}: pytorch-grad-cam's map is {theirs}");
                assert!(largest <= 1e-4 * scale, "{key}: ours is {largest}");
            }
        }
    }
}

#[test]
fn faithfulness_matches_pytorch_grad_cam_and_the_deletion_curve() {
    let reference = cam_reference();
    let ensemble = ensemble(&reference);
    let (analysis, pixels) = analysis(&ensemble, &reference);
    let metadata = metadata_case(reference["metadata_case"].as_str().unwrap());
    let cases = reference["metrics"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let scope = match &case["scope"] {
            Value::String(s) if s == "ensemble" => Scope::Ensemble,
            index => Scope::Member(index.as_u64().unwrap() as usize),
        };
        let label = case["label"].as_u64().unwrap() as usize;
        let values: Vec<f32> = std::fs::read(reference_file(case["map"].as_str().unwrap()))
            .unwrap()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let map = CamMap {
            width: 384,
            height: 384,
            values,
        };
        let members = scope.members(ensemble.members.len());
        let original = wait(ensemble.member_logits_for(&analysis, &metadata)).unwrap()[members.clone()].to_vec();
        let figures = wait(faithfulness::measure(
            &pixels,
            map,
            label,
            ensemble.settings.combine,
            &original,
            |perturbed| ensemble.logits_of(members.clone(), perturbed, 384, &metadata),
        ))
        .unwrap();
        let what = format!("{} at {}, {scope:?}, label {label}", case["method"], case["layer"]);
        let close = |ours: f32, name: &str, theirs: &Value| {
            let theirs = theirs.as_f64().unwrap() as f32;
            println!("{what}: {name} differs by {:.1e}", (ours - theirs).abs());
            assert!((ours - theirs).abs() <= 1e-4, "{what}: {name} {ours} vs {theirs}");
        };
        close(figures.probability, "probability", &case["probability"]);
        close(
            figures.confidence_change,
            "confidence change",
            &case["confidence_change"],
        );
        close(
            figures.multiplied_probability,
            "multiplied",
            &case["multiplied_probability"],
        );
        assert!(
            figures.confidence_change.abs() > 1e-3,
            "{what}: a zero change proves little"
        );
        let deletion = case["deletion"].as_array().unwrap();
        assert_eq!(figures.deletion.len(), deletion.len());
        for (ours, theirs) in figures.deletion.iter().zip(deletion) {
            assert_eq!(ours.percent as u64, theirs["percent"].as_u64().unwrap());
            close(
                ours.most_relevant_removed,
                "most relevant removed",
                &theirs["most_relevant_removed"],
            );
            close(
                ours.least_relevant_removed,
                "least relevant removed",
                &theirs["least_relevant_removed"],
            );
        }
    }
}

/// The ensemble's own call upsamples the layer's map and runs the same
/// measure: the same figures as the map upsampled by hand.
#[test]
fn ensemble_faithfulness_is_the_measure_of_its_upsampled_map() {
    let reference = cam_reference();
    let ensemble = ensemble(&reference);
    let all = 0..ensemble.members.len();
    let (analysis, pixels) = analysis(&ensemble, &reference);
    let metadata = metadata_case(reference["metadata_case"].as_str().unwrap());
    let settings = CamSettings {
        method: CamMethod::LayerCam,
        layer: CamLayer::Stages2,
    };
    let map = wait(ensemble.heat_maps(&analysis, &[9], settings)).unwrap().remove(0);
    let ours = wait(ensemble.faithfulness(&analysis, &metadata, 9, Scope::Ensemble, &map)).unwrap();
    let original = wait(ensemble.member_logits_for(&analysis, &metadata)).unwrap();
    let by_hand = wait(faithfulness::measure(
        &pixels,
        map.upsampled(384, 384),
        9,
        ensemble.settings.combine,
        &original,
        |perturbed| ensemble.logits_of(all.clone(), perturbed, 384, &metadata),
    ))
    .unwrap();
    assert_eq!(ours, by_hand);
    assert!((ours.probability - analysis.prediction.probabilities[9]).abs() < 1e-6);
    let beyond = Scope::Member(all.end);
    let refused = wait(ensemble.faithfulness(&analysis, &metadata, 9, beyond, &map));
    assert!(
        refused
            .unwrap_err()
            .to_string()
            .contains(&format!("member {}", all.end))
    );
}
