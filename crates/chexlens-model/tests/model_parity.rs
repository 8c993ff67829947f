//! Logits and probabilities against PyTorch/timm for every weight layout and dtype.

mod common;

use chexlens_checkpoints::architecture::ArchitectureConfig;
use chexlens_checkpoints::manifest::ModelSettings;
use chexlens_checkpoints::weights::StateDict;
use chexlens_images::input::decode_image;
use chexlens_images::preprocess::InputConfig;
use chexlens_model::model::{Backbone, BackboneLayout, ConvNeXtWithMetadata};
use chexlens_model::{Device, Ensemble, wait};
use common::*;

fn load(files: &[&str]) -> Ensemble {
    let members = files
        .iter()
        .map(|f| StateDict::from_file(&fixture(f)).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    Ensemble::from_state_dicts(members, None, ModelSettings::default(), Device::flex())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Runs one member on the reference's own resized images (so that only the
/// network is compared) and checks every metadata case's logits.
fn check_member(weights: &str, reference_member: &str) {
    check_member_in(load(&[weights]), weights, reference_member);
}

fn check_member_in(ensemble: Ensemble, weights: &str, reference_member: &str) {
    let reference = reference();
    let input = InputConfig::default();
    let mut worst = 0f32;
    for (file, resized, _) in image_files(&reference) {
        let planes = decode_image(&std::fs::read(fixture(&resized)).unwrap()).unwrap();
        let pixels = input.normalise(&input.resize(&planes));
        for (case, expected_vector) in reference["metadata_cases"].as_object().unwrap() {
            let metadata = metadata_case(case);
            assert_eq!(
                metadata.encode(1.0).to_vec(),
                floats(expected_vector),
                "encoding of {case}"
            );
            let (images, meta) = ensemble.inputs_from_normalised(pixels.clone(), 384, &metadata);
            let prediction = wait(ensemble.analyse_inputs(images, meta)).unwrap().prediction;
            let expected = &reference["members"][reference_member][&file][case];
            let diff = max_abs_diff(&prediction.member_logits[0], &floats(&expected["logits"]));
            worst = worst.max(diff);
            let pdiff = max_abs_diff(&prediction.probabilities, &floats(&expected["probabilities"]));
            assert!(diff <= 1e-4, "{weights} {file} {case}: logits differ by {diff}");
            assert!(
                pdiff <= 1e-5,
                "{weights} {file} {case}: probabilities differ by {pdiff}"
            );
        }
    }
    eprintln!("{weights}: max logit difference from PyTorch {worst:e}");
}

#[test]
fn pth_bare_state_dict_matches_pytorch() {
    check_member("tiny_m0.pth", "tiny_m0");
}

/// The CPU backend runs the fused channels-last backbone; the burn tensor
/// form (what WebGPU runs) must match PyTorch on the CPU as well.
#[test]
fn tensor_layout_matches_pytorch() {
    let weights = StateDict::from_file(&fixture("tiny_m0.pth")).unwrap();
    let config = ArchitectureConfig::infer(&weights.shapes()).unwrap();
    let device = Device::flex();
    let member = ConvNeXtWithMetadata::from_state_dict_in(config, weights, &device, BackboneLayout::Tensors).unwrap();
    assert!(matches!(member.convnext_backbone, Backbone::Tensors(_)));
    assert!(
        matches!(
            load(&["tiny_m0.pth"]).members[0].convnext_backbone,
            Backbone::ChannelsLast { .. }
        ),
        "the CPU backend's default is the channels-last backbone"
    );
    let ensemble = Ensemble {
        members: vec![member],
        settings: ModelSettings::default(),
        device,
    };
    check_member_in(ensemble, "tiny_m0.pth (tensor layout)", "tiny_m0");
}

#[test]
fn pth_training_checkpoint_with_module_prefix_matches_pytorch() {
    check_member("tiny_m1_checkpoint.pth", "tiny_m1");
}

#[test]
fn safetensors_f32_matches_pytorch() {
    check_member("tiny_m0.safetensors", "tiny_m0");
    check_member("tiny_m2.safetensors", "tiny_m2");
}

#[test]
fn f16_pth_and_safetensors_match_pytorch() {
    check_member("tiny_m0_f16.pth", "tiny_m0_f16");
    check_member("tiny_m0_f16.safetensors", "tiny_m0_f16");
}

#[test]
fn bf16_safetensors_matches_pytorch() {
    check_member("tiny_m0_bf16.safetensors", "tiny_m0_bf16");
}

#[test]
fn pth_and_safetensors_hold_identical_tensors() {
    let a = StateDict::from_file(&fixture("tiny_m2.pth")).unwrap();
    let b = StateDict::from_file(&fixture("tiny_m2.safetensors")).unwrap();
    assert_eq!(a.tensors, b.tensors);
}

#[test]
fn architecture_is_inferred_from_the_checkpoint() {
    let reference = reference();
    let weights = StateDict::from_file(&fixture("tiny_m0.pth")).unwrap();
    let arch = ArchitectureConfig::infer(&weights.shapes()).unwrap();
    let ints = |v: &serde_json::Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect::<Vec<_>>()
    };
    assert_eq!(arch.depths, ints(&reference["depths"]));
    assert_eq!(arch.dims, ints(&reference["dims"]));
    assert_eq!(
        arch,
        ArchitectureConfig::with_backbone(arch.depths.clone(), arch.dims.clone())
    );
}

/// Three members from three layouts, end to end from the original image files:
/// decode, resize, normalise, forward, mean of member probabilities.
#[test]
fn ensemble_probabilities_match_pytorch_end_to_end() {
    let reference = reference();
    let ensemble = load(&["tiny_m0.safetensors", "tiny_m1_checkpoint.pth", "tiny_m2.pth"]);
    for (file, _, _) in image_files(&reference) {
        let image = decode_image(&std::fs::read(fixture(&file)).unwrap()).unwrap();
        for case in reference["metadata_cases"].as_object().unwrap().keys() {
            let prediction = wait(ensemble.analyse(&image, &metadata_case(case))).unwrap().prediction;
            let expected = floats(&reference["ensemble"][&file][case]["probabilities"]);
            let diff = max_abs_diff(&prediction.probabilities, &expected);
            // PNG and JPEG both decode exactly as Pillow decodes them.
            assert!(diff <= 1e-5, "{file} {case}: ensemble probabilities differ by {diff}");
        }
    }
}
