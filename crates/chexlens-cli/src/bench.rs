//! `chexlens bench`: load, forward, ensemble and Grad-CAM times, median and
//! spread over runs, and the process's peak memory; on checkpoints from disk
//! (the real loading path) or on generated weights of a chosen architecture
//! (nothing downloaded). `--json` is what `tools/bench/pytorch_peer.py` reads.

use crate::device::DeviceChoice;
use crate::model_source;
use chexlens_model::gradcam::CamTarget;
use chexlens_model::{ArchitectureConfig, Ensemble, Metadata, ModelSettings, StateDict, Tensor};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

/// The bench input: a fixed pattern of normalised pixels that
/// `tools/bench/pytorch_peer.py` rebuilds exactly, so both sides see the
/// same tensor, with the default metadata.
pub fn bench_inputs(ensemble: &Ensemble, size: usize) -> (Tensor<4>, Tensor<2>) {
    let pixels = (0..3 * size * size)
        .map(|i| ((i % 997) as f32 / 997.0 - 0.5) * 2.0)
        .collect();
    ensemble.inputs_from_normalised(pixels, size, &Metadata::default())
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

impl Stats {
    fn json(&self) -> serde_json::Value {
        json!({ "median": self.median, "min": self.min, "max": self.max })
    }
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

/// Where the benchmarked weights come from.
pub enum BenchModel {
    Generated { config: ArchitectureConfig, members: usize },
    Files(Vec<PathBuf>),
}

pub struct BenchOptions {
    pub model: BenchModel,
    pub runs: usize,
    pub warmup: usize,
    pub labels: usize,
    pub size: usize,
    pub json: bool,
    pub device: DeviceChoice,
}

pub fn run(options: BenchOptions) -> Result<(), String> {
    let BenchOptions {
        model,
        runs,
        warmup,
        labels,
        size,
        json,
        device: choice,
    } = options;
    let device = choice.open()?;
    let t = Instant::now();
    let (ensemble, source) = match model {
        BenchModel::Generated { config, members } => {
            let weights = (0..members)
                .map(|i| StateDict::generated(&config, i as u64 + 1))
                .collect();
            let ensemble = Ensemble::from_state_dicts(weights, Some(config), ModelSettings::default(), device)
                .map_err(|e| e.to_string())?;
            (ensemble, format!("generated, {members} member(s)"))
        }
        BenchModel::Files(files) => {
            let loaded = model_source::load_weights(&files, device)?;
            (loaded.ensemble, loaded.name)
        }
    };
    let load = t.elapsed().as_secs_f64();
    let config = ensemble.architecture().clone();
    let members = ensemble.members.len();
    let weight_bytes: usize = config
        .expected_shapes()
        .iter()
        .map(|(_, shape)| shape.iter().product::<usize>() * 4)
        .sum::<usize>()
        * members;

    let (images, meta) = bench_inputs(&ensemble, size);
    let metadata_vector = meta.clone().into_data().try_to_vec::<f32>().unwrap_or_default();
    let member = &ensemble.members[0];
    let mut first_logits = Vec::new();
    let forward = time_runs(warmup, runs, || {
        first_logits = member
            .forward(images.clone(), meta.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap_or_default();
    });
    let mut probabilities = Vec::new();
    let whole = time_runs(warmup.min(1), runs, || {
        probabilities = ensemble.predict_inputs(images.clone(), meta.clone()).probabilities;
    });
    let label_list: Vec<usize> = (0..labels.clamp(1, ensemble.settings.labels.len())).collect();
    // As in an analysis: the backbone's pass comes from the prediction;
    // Grad-CAM differentiates the head and the last block from it.
    let state = member.backbone_state(images.clone());
    let cam = time_runs(warmup, runs, || {
        let raw = member.grad_cam_raw(&state, &label_list, CamTarget::default());
        let _ = raw.into_data();
    });
    let peak = peak_memory_mb();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());

    if json {
        let report = json!({
            "model": source,
            "depths": config.depths,
            "dims": config.dims,
            "members": members,
            "size": size,
            "threads": threads,
            "device": format!("{choice:?}").to_lowercase(),
            "runs": runs,
            "load_s": load,
            "forward_s": forward.json(),
            "ensemble_s": whole.json(),
            "gradcam_s": cam.json(),
            "gradcam_labels": label_list.len(),
            "peak_memory_mb": peak,
            "weight_mb": weight_bytes as f64 / 1e6,
            "metadata": metadata_vector,
            "member0_logits": first_logits,
            "probabilities": probabilities,
        });
        println!("{report}");
        return Ok(());
    }
    println!(
        "chexlens bench: {source}; depths {:?} dims {:?}, {size}x{size} input, {}, {runs} runs after {warmup} warm-up",
        config.depths,
        config.dims,
        match choice {
            DeviceChoice::Cpu => format!("CPU, {threads} thread(s)"),
            DeviceChoice::Gpu => "GPU (wgpu, Vulkan)".to_string(),
        }
    );
    let show = |name: &str, s: &Stats| {
        println!(
            "{name:<40} median {:.3} s  (min {:.3}, max {:.3})",
            s.median, s.min, s.max
        )
    };
    println!("{:<40} {load:.3} s", "load");
    show("forward, one member", &forward);
    show(&format!("ensemble of {members}, all members"), &whole);
    show(&format!("Grad-CAM, {} labels, one member", label_list.len()), &cam);
    println!(
        "Grad-CAM for {} labels / one forward: {:.3}",
        label_list.len(),
        cam.median / forward.median
    );
    if let Some(peak) = peak {
        println!(
            "peak memory: {peak:.0} MB (f32 weights {:.0} MB)",
            weight_bytes as f64 / 1e6
        );
    }
    Ok(())
}
