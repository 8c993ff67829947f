//! `chexlens bench`: forward and Grad-CAM times on generated weights of the
//! chosen architecture (nothing downloaded), median and spread over runs,
//! and the process's peak memory.

use chexlens_model::gradcam::CamTarget;
use chexlens_model::weights::{StoredDType, TensorF32};
use chexlens_model::{ArchitectureConfig, Device, Ensemble, Metadata, ModelSettings, StateDict};
use std::time::Instant;

/// Deterministic weights with the scales the reference generator uses, so
/// activations stay in a realistic range.
fn generated_weights(config: &ArchitectureConfig, seed: u64) -> StateDict {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut uniform = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    let tensors = config
        .expected_shapes()
        .into_iter()
        .map(|(name, shape)| {
            let numel: usize = shape.iter().product();
            let fan_in: usize = shape.iter().skip(1).product::<usize>().max(1);
            let data: Vec<f32> = if name.ends_with("gamma") {
                (0..numel).map(|_| 0.5 + 0.25 * uniform()).collect()
            } else if shape.len() == 1 && name.ends_with("weight") {
                (0..numel).map(|_| 1.0 + 0.2 * uniform()).collect()
            } else if shape.len() == 1 {
                (0..numel).map(|_| 0.05 * uniform()).collect()
            } else {
                let bound = (3.0 / fan_in as f32).sqrt();
                (0..numel).map(|_| bound * uniform()).collect()
            };
            (
                name,
                TensorF32 {
                    shape,
                    data,
                    stored_as: StoredDType::F32,
                },
            )
        })
        .collect();
    StateDict {
        source: format!("generated (seed {seed})"),
        tensors,
    }
}

fn peak_memory_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

struct Stats {
    median: f64,
    min: f64,
    max: f64,
}

fn time_runs(warmup: usize, runs: usize, mut f: impl FnMut()) -> Stats {
    for _ in 0..warmup {
        f();
    }
    let mut times: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    Stats {
        median: times[times.len() / 2],
        min: times[0],
        max: times[times.len() - 1],
    }
}

pub struct BenchOptions {
    pub config: ArchitectureConfig,
    pub members: usize,
    pub runs: usize,
    pub warmup: usize,
    pub labels: usize,
    pub size: usize,
}

pub fn run(options: BenchOptions) {
    let BenchOptions {
        config,
        members,
        runs,
        warmup,
        labels,
        size,
    } = options;
    println!(
        "chexlens bench: depths {:?} dims {:?}, {size}x{size} input, {members} member(s), {runs} runs after {warmup} warm-up",
        config.depths, config.dims
    );
    let t = Instant::now();
    let weights: Vec<StateDict> = (0..members).map(|i| generated_weights(&config, i as u64 + 1)).collect();
    let weight_bytes: usize = weights
        .iter()
        .flat_map(|w| w.tensors.values())
        .map(|t| t.data.len() * 4)
        .sum();
    let device = Device::flex();
    let ensemble = match Ensemble::from_state_dicts(weights, Some(config), ModelSettings::default(), device) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("chexlens: {e}");
            return;
        }
    };
    println!(
        "prepare (generated weights, {:.0} MB f32): {:.3} s",
        weight_bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    let pixels: Vec<f32> = (0..3 * size * size)
        .map(|i| ((i % 997) as f32 / 997.0 - 0.5) * 2.0)
        .collect();
    let (images, meta) = ensemble.inputs_from_normalised(pixels, size, &Metadata::default());
    let member = &ensemble.members[0];
    let forward = time_runs(warmup, runs, || {
        let logits = member.forward(images.clone(), meta.clone());
        let _ = logits.into_data();
    });
    let whole = time_runs(warmup.min(1), runs, || {
        let _ = ensemble.predict_inputs(images.clone(), meta.clone());
    });
    let label_list: Vec<usize> = (0..labels.min(ensemble.settings.labels.len())).collect();
    // As in an analysis: the backbone state comes from the prediction; Grad-CAM
    // runs the last block and the head under autodiff.
    let state = member.convnext_backbone.forward_until_last_block(images.clone());
    let cam = time_runs(warmup, runs, || {
        let raw = member.grad_cam_raw(state.clone(), meta.clone(), &label_list, CamTarget::default());
        let _ = raw.into_data();
    });
    let show = |name: &str, s: &Stats| {
        println!(
            "{name:<40} median {:.3} s  (min {:.3}, max {:.3})",
            s.median, s.min, s.max
        )
    };
    show("forward, one member", &forward);
    show(&format!("ensemble of {members}, all members"), &whole);
    show(&format!("Grad-CAM, {} labels, one member", label_list.len()), &cam);
    println!(
        "Grad-CAM for {} labels / one forward: {:.3}",
        label_list.len(),
        cam.median / forward.median
    );
    if let Some(peak) = peak_memory_mb() {
        println!(
            "peak memory: {peak:.0} MB (f32 weights {:.0} MB)",
            weight_bytes as f64 / 1e6
        );
    }
}
