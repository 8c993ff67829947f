//! `chexlens bench`: load, forward, ensemble and Grad-CAM times, median and
//! spread over runs, and the process's peak memory; on checkpoints from disk
//! (the real loading path) or on generated weights of a chosen architecture
//! (nothing downloaded). `--json` is what `tools/bench/pytorch_peer.py` reads.

use crate::device::DeviceChoice;
use crate::model_source;
use chexlens_checkpoints::architecture::ArchitectureConfig;
use chexlens_checkpoints::manifest::ModelSettings;
use chexlens_chexpert::metadata::Metadata;
use chexlens_model::analysis::read_back;
use chexlens_model::faithfulness::Scope;
use chexlens_model::gradcam::{self, CamLayer, CamMethod, CamSettings};
use chexlens_model::{AnalysisError, Ensemble, Tensor, wait};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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
    /// Also time every heat-map method at both layers, and one map's
    /// faithfulness measures.
    pub cam_methods: bool,
}

/// What one bench run measured.
struct Measured {
    forward: Stats,
    whole: Stats,
    cam: Stats,
    cam_labels: usize,
    /// Each method and layer's time for `cam_labels` labels, one member.
    methods: Vec<(CamSettings, Stats)>,
    /// One map's faithfulness measures, the whole ensemble.
    faithfulness: Option<Stats>,
    metadata: Vec<f32>,
    member0_logits: Vec<f32>,
    probabilities: Vec<f32>,
}

fn load(model: &BenchModel, device: chexlens_model::Device) -> Result<(Ensemble, String), String> {
    match model {
        BenchModel::Generated { config, members } => {
            let weights = (0..*members)
                .map(|i| chexlens_checkpoints::architecture::generated(config, i as u64 + 1))
                .collect();
            let ensemble = Ensemble::from_state_dicts(weights, Some(config.clone()), ModelSettings::default(), device)
                .map_err(|e| e.to_string())?;
            Ok((ensemble, format!("generated, {members} member(s)")))
        }
        BenchModel::Files(files) => {
            let loaded = model_source::load_weights(files, device)?;
            Ok((loaded.ensemble, loaded.name))
        }
    }
}

/// Times one member's forward pass, the whole ensemble's analysis, and
/// one member's Grad-CAM from the backbone pass an analysis keeps.
fn measure(ensemble: &Ensemble, options: &BenchOptions) -> Result<Measured, String> {
    let (size, labels, warmup, runs) = (options.size, options.labels, options.warmup, options.runs);
    let (images, meta) = bench_inputs(ensemble, size);
    let (metadata, _) = wait(read_back(meta.clone(), "metadata")).map_err(|e| e.to_string())?;
    let member = &ensemble.members[0];
    let mut member0_logits = Err(AnalysisError::CannotBlock);
    let forward = time_runs(warmup, runs, || {
        member0_logits = wait(read_back(member.forward(images.clone(), meta.clone()), "logits"));
    });
    let mut analysis = Err(AnalysisError::CannotBlock);
    let whole = time_runs(warmup.min(1), runs, || {
        analysis = wait(ensemble.analyse_inputs(images.clone(), meta.clone()));
    });
    let cam_labels: Vec<usize> = (0..labels.clamp(1, ensemble.settings.labels.len())).collect();
    let state = member.backbone_state(images.clone());
    let mut maps = Ok((Vec::new(), [0; 3]));
    let mut time_maps = |settings: CamSettings| {
        let stats = time_runs(warmup, runs, || {
            maps = wait(gradcam::raw_maps(member, &state, &cam_labels, settings));
        });
        maps.clone().map(|_| stats).map_err(|e| e.to_string())
    };
    let cam = time_maps(CamSettings::default())?;
    let mut methods = Vec::new();
    let mut faithfulness = None;
    if options.cam_methods {
        for layer in CamLayer::ALL {
            for method in CamMethod::ALL {
                let settings = CamSettings { method, layer };
                methods.push((settings, time_maps(settings)?));
            }
        }
        let analysis = wait(ensemble.analyse_inputs(images.clone(), meta.clone())).map_err(|e| e.to_string())?;
        let map = wait(ensemble.heat_maps(&analysis, &[0], CamSettings::default()))
            .map_err(|e| e.to_string())?
            .remove(0);
        let mut measured = Ok(());
        let stats = time_runs(0, 1, || {
            let metadata = Metadata::default();
            let figures = ensemble.faithfulness(&analysis, &metadata, 0, Scope::Ensemble, &map);
            measured = wait(figures).map(|_| ());
        });
        measured.map_err(|e| e.to_string())?;
        faithfulness = Some(stats);
    }
    Ok(Measured {
        forward,
        whole,
        cam,
        cam_labels: cam_labels.len(),
        methods,
        faithfulness,
        metadata,
        member0_logits: member0_logits.map_err(|e| e.to_string())?.0,
        probabilities: analysis.map_err(|e| e.to_string())?.prediction.probabilities,
    })
}

/// Bytes of f32 weights the ensemble holds.
fn weight_bytes(ensemble: &Ensemble) -> usize {
    let per_member: usize = ensemble
        .architecture()
        .expected_shapes()
        .iter()
        .map(|(_, shape)| shape.iter().product::<usize>() * 4)
        .sum();
    per_member * ensemble.members.len()
}

/// Writes `members` generated members of `config` into `dir` as
/// `generated-N.safetensors`, so that `predict` and `evaluate` can be timed
/// on full-size files through the real loading path.
pub fn write_generated(config: &ArchitectureConfig, members: usize, dir: &Path) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {} ({e})", dir.display()))?;
    let metadata = BTreeMap::from([
        ("format".to_string(), "pt".to_string()),
        (
            "generated_by".to_string(),
            format!("chexlens {} bench", env!("CARGO_PKG_VERSION")),
        ),
    ]);
    (0..members)
        .map(|i| {
            let state = chexlens_checkpoints::architecture::generated(config, i as u64 + 1);
            let written = chexlens_checkpoints::weights::write_safetensors(
                state.tensors.iter().map(|(k, v)| (k.as_str(), v)),
                false,
                &metadata,
            );
            let path = dir.join(format!("generated-{}.safetensors", i + 1));
            std::fs::write(&path, &written.bytes).map_err(|e| format!("cannot write {} ({e})", path.display()))?;
            Ok(path)
        })
        .collect()
}

pub fn run(options: BenchOptions) -> Result<(), String> {
    let device = options.device.open()?;
    let t = Instant::now();
    let (ensemble, source) = load(&options.model, device)?;
    let load_s = t.elapsed().as_secs_f64();
    let measured = measure(&ensemble, &options)?;
    let report = Report {
        source,
        ensemble: &ensemble,
        options: &options,
        load_s,
        measured,
        peak_mb: peak_memory_mb(),
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    if options.json {
        println!("{}", report.json());
    } else {
        report.print();
    }
    Ok(())
}

struct Report<'a> {
    source: String,
    ensemble: &'a Ensemble,
    options: &'a BenchOptions,
    load_s: f64,
    measured: Measured,
    peak_mb: Option<f64>,
    threads: usize,
}

impl Report<'_> {
    fn json(&self) -> serde_json::Value {
        let config = self.ensemble.architecture();
        let m = &self.measured;
        json!({
            "model": self.source,
            "depths": config.depths,
            "dims": config.dims,
            "members": self.ensemble.members.len(),
            "size": self.options.size,
            "threads": self.threads,
            "device": format!("{:?}", self.options.device).to_lowercase(),
            "runs": self.options.runs,
            "load_s": self.load_s,
            "forward_s": m.forward.json(),
            "ensemble_s": m.whole.json(),
            "gradcam_s": m.cam.json(),
            "gradcam_labels": m.cam_labels,
            "cam_methods_s": m.methods.iter().map(|(settings, stats)| json!({
                "method": settings.method.name(),
                "layer": settings.layer.name(),
                "time": stats.json(),
            })).collect::<Vec<_>>(),
            "faithfulness_s": m.faithfulness.as_ref().map(Stats::json),
            "peak_memory_mb": self.peak_mb,
            "weight_mb": weight_bytes(self.ensemble) as f64 / 1e6,
            "metadata": m.metadata,
            "member0_logits": m.member0_logits,
            "probabilities": m.probabilities,
        })
    }

    fn print(&self) {
        let (config, o, m) = (self.ensemble.architecture(), self.options, &self.measured);
        let members = self.ensemble.members.len();
        println!(
            "chexlens bench: {}; depths {:?} dims {:?}, {size}x{size} input, {}, {} runs after {} warm-up",
            self.source,
            config.depths,
            config.dims,
            match o.device {
                DeviceChoice::Cpu => format!("CPU, {} thread(s)", self.threads),
                DeviceChoice::Gpu => "GPU (wgpu, Vulkan)".to_string(),
            },
            o.runs,
            o.warmup,
            size = o.size,
        );
        let show = |name: &str, s: &Stats| {
            println!(
                "{name:<40} median {:.3} s  (min {:.3}, max {:.3})",
                s.median, s.min, s.max
            )
        };
        println!("{:<40} {:.3} s", "load", self.load_s);
        show("forward, one member", &m.forward);
        show(&format!("ensemble of {members}, all members"), &m.whole);
        show(&format!("Grad-CAM, {} labels, one member", m.cam_labels), &m.cam);
        println!(
            "Grad-CAM for {} labels / one forward: {:.3}",
            m.cam_labels,
            m.cam.median / m.forward.median
        );
        for (settings, stats) in &m.methods {
            let name = format!("{}, {} layer", settings.method.title(), settings.layer.name());
            show(&name, stats);
        }
        if let Some(stats) = &m.faithfulness {
            show(&format!("faithfulness of one map, {members} member(s)"), stats);
        }
        if let Some(peak) = self.peak_mb {
            println!(
                "peak memory: {peak:.0} MB (f32 weights {:.0} MB)",
                weight_bytes(self.ensemble) as f64 / 1e6
            );
        }
    }
}
