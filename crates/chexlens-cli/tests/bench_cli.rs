//! `chexlens bench --write-weights`: the members the bench times, written
//! as files that `predict` and `evaluate` load (tools/bench/evaluate-throughput).

mod common;

use chexlens_checkpoints::architecture::ArchitectureConfig;
use common::{chexlens, path, tempdir};

#[test]
fn written_members_are_the_generated_ones_and_load_for_predict() {
    let dir = tempdir("bench_write");
    let out = chexlens(&[
        "bench",
        "--depths",
        "1,1,2,1",
        "--dims",
        "8,16,32,64",
        "--members",
        "2",
        "--write-weights",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    let expected: Vec<String> = (1..=2)
        .map(|i| dir.join(format!("generated-{i}.safetensors")).display().to_string())
        .collect();
    assert_eq!(listed, expected);

    let config = ArchitectureConfig::with_backbone(vec![1, 1, 2, 1], vec![8, 16, 32, 64]);
    for (i, file) in expected.iter().enumerate() {
        let read = chexlens_checkpoints::architecture::read_weights(&std::fs::read(file).unwrap(), file, Some(&config))
            .unwrap();
        let generated = chexlens_checkpoints::architecture::generated(&config, i as u64 + 1);
        assert_eq!(
            read.tensors.keys().collect::<Vec<_>>(),
            generated.tensors.keys().collect::<Vec<_>>()
        );
        for (key, tensor) in &generated.tensors {
            assert_eq!(read.tensors[key].shape, tensor.shape, "{key}");
            assert_eq!(read.tensors[key].data, tensor.data, "{key}: f32 values, unchanged");
        }
    }

    let predicted = chexlens(&[
        "predict",
        "--json",
        "--weights",
        &expected.join(","),
        &path("xray_rgb.png"),
    ]);
    assert!(
        predicted.status.success(),
        "{}",
        String::from_utf8_lossy(&predicted.stderr)
    );
    let line: serde_json::Value = serde_json::from_slice(&predicted.stdout).unwrap();
    assert_eq!(line["members"], 2);
}
