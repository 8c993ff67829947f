//! `chexlens convert`: a checkpoint (.pth or .safetensors) to `.safetensors`,
//! optionally f16 so that a browser downloads half the bytes. Only the
//! tensors the model uses are written. The result is read back through the
//! real loading path and compared with the original on the images given
//! (or, without any, on the bench input): the drift and both load times are
//! reported.

use crate::bench::bench_inputs;
use crate::model_source::{self, LoadedModel};
use crate::predict::{self, CamRequest, MetadataFlags};
use chexlens_checkpoints::weights::StateDict;
use chexlens_checkpoints::weights::{WrittenSafetensors, write_safetensors};
use chexlens_model::Device;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The largest probability drift an f16 copy may show and still be offered
/// for download in place of the f32 file.
const DRIFT_TARGET: f32 = 0.005;

pub struct ConvertOptions {
    pub input: PathBuf,
    pub output: PathBuf,
    pub half: bool,
    pub check_images: Vec<PathBuf>,
}

fn timed_load(path: &Path) -> Result<(LoadedModel, f64), String> {
    let t = Instant::now();
    let model = model_source::load_weights(&[path.to_path_buf()], Device::flex())?;
    Ok((model, t.elapsed().as_secs_f64()))
}

/// Probabilities for each check image, or for the bench input without any.
fn probabilities(model: &LoadedModel, images: &[PathBuf]) -> Result<Vec<(String, Vec<f32>)>, String> {
    if images.is_empty() {
        let ensemble = &model.ensemble;
        let (x, meta) = bench_inputs(ensemble, ensemble.settings.input.size);
        let analysis = chexlens_model::wait(ensemble.analyse_inputs(x, meta)).map_err(|e| e.to_string())?;
        return Ok(vec![("the bench input".into(), analysis.prediction.probabilities)]);
    }
    let thresholds = model.ensemble.settings.thresholds.clone();
    images
        .iter()
        .map(|image| {
            predict::analyse_file(
                model,
                image,
                0,
                &MetadataFlags::default(),
                &thresholds,
                CamRequest::NONE,
            )
            .map(|a| (image.display().to_string(), a.prediction.probabilities))
            .map_err(|e| format!("{}: {e}", image.display()))
        })
        .collect()
}

/// A member's weights as safetensors: only the tensors `model` (built from
/// them) uses, in its order; f16 with `half` where every value fits. Returns
/// the file and how many tensors it holds.
pub fn to_safetensors(state: &StateDict, model: &LoadedModel, half: bool, source: &str) -> (WrittenSafetensors, usize) {
    let names: Vec<String> = model
        .ensemble
        .architecture()
        .expected_shapes()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let tensors = names.iter().map(|name| {
        let tensor = state
            .get(name)
            .expect("the model loaded, so every tensor it uses is there");
        (name.as_str(), tensor)
    });
    let metadata = BTreeMap::from([
        ("format".to_string(), "pt".to_string()),
        ("converted_from".to_string(), source.to_string()),
        (
            "converted_by".to_string(),
            format!("chexlens {}", env!("CARGO_PKG_VERSION")),
        ),
    ]);
    (write_safetensors(tensors, half, &metadata), names.len())
}

/// Writes beside the target, then renames: a failure never leaves half a file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    std::fs::write(&partial, bytes).map_err(|e| format!("{}: cannot write ({e})", partial.display()))?;
    std::fs::rename(&partial, path).map_err(|e| format!("{}: cannot write ({e})", path.display()))
}

pub fn run(options: ConvertOptions) -> Result<(), String> {
    let ConvertOptions {
        input,
        output,
        half,
        check_images,
    } = options;
    if output.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        return Err(format!("{}: the output must be a .safetensors file", output.display()));
    }
    if output.exists() && std::fs::canonicalize(&output).ok() == std::fs::canonicalize(&input).ok() {
        return Err(format!("{}: the output would replace the input", output.display()));
    }
    // The input is read once: its state dict is both loaded as a model
    // (which validates it) and written out.
    let t = Instant::now();
    let state = model_source::read_member(&input, None, None).map_err(|e| e.to_string())?;
    let parsed = t.elapsed().as_secs_f64();
    let copy = state.clone();
    let t = Instant::now();
    let original = model_source::from_members(vec![copy], input.display().to_string(), Device::flex())?;
    let original_load = parsed + t.elapsed().as_secs_f64();
    let source = input
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let (written, names) = to_safetensors(&state, &original, half, &source);
    let dropped = state.tensors.len() - names;
    drop(state);
    write_atomically(&output, &written.bytes)?;

    let (converted, converted_load) = timed_load(&output)?;
    let before = probabilities(&original, &check_images)?;
    let after = probabilities(&converted, &check_images)?;

    let input_bytes = std::fs::metadata(&input).map(|m| m.len()).unwrap_or(0);
    println!(
        "{} -> {} ({}, {} tensors{})",
        input.display(),
        output.display(),
        if half { "f16" } else { "f32" },
        names,
        if dropped > 0 {
            format!("; {dropped} unused tensors left out")
        } else {
            String::new()
        }
    );
    if !written.kept_f32.is_empty() {
        println!(
            "kept in f32 (values beyond f16's range): {}",
            written.kept_f32.join(", ")
        );
    }
    println!(
        "size: {:.1} MB -> {:.1} MB ({:.2}x)",
        input_bytes as f64 / 1e6,
        written.bytes.len() as f64 / 1e6,
        written.bytes.len() as f64 / input_bytes.max(1) as f64
    );
    println!("load: {original_load:.3} s -> {converted_load:.3} s");
    let mut worst = 0.0f32;
    for ((name, p), (_, q)) in before.iter().zip(&after) {
        let drift = p.iter().zip(q).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        worst = worst.max(drift);
        println!("largest probability change on {name}: {drift:.2e}");
    }
    if worst > DRIFT_TARGET {
        println!("note: the change exceeds {DRIFT_TARGET}; keep the f32 file for this model");
    }
    Ok(())
}
