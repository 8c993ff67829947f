//! `chexlens evaluate --write-reference FILE`: the members' reference
//! statistics (chexlens-reference) computed on a folder of chest
//! radiographs, labelled (a CheXpert CSV) or not (every image file under
//! a folder), written beside the model and named in its manifest.

use crate::convert::write_atomically;
use crate::failure::Failure;
use crate::files::{folder_of, read_bounded, read_manifest_text};
use crate::model_source::LoadedModel;
use crate::predict::{self, CamRequest, MetadataFlags};
use crate::progress::Progress;
use chexlens_checkpoints::manifest::{Manifest, ReferenceSpec};
use chexlens_checkpoints::weights::sha256_hex;
use chexlens_images::suitability::WarningCode;
use chexlens_reference::statistics::ReferenceStatistics;
use chexlens_research::csv::MAX_CSV_BYTES;
use chexlens_research::labelled::LabelledSet;
use std::path::{Path, PathBuf};

/// Files looked at under a folder, at most: a bound on the walk, far
/// above any reference set.
const MAX_FOLDER_FILES: usize = 1_000_000;

/// Where the reference radiographs are.
pub enum ReferenceImages {
    /// A labelled set's CSV and the folder its paths start from.
    Labelled { csv: PathBuf, root: PathBuf },
    /// Every file under a folder (those that are not images are passed over).
    Folder(PathBuf),
}

pub struct WriteReference {
    pub out: PathBuf,
    pub images: ReferenceImages,
    pub percentile: f64,
    pub flags: MetadataFlags,
    /// The manifest the model came from, which is updated to name `out`.
    pub manifest: Option<PathBuf>,
}

pub fn run(options: WriteReference, model: &LoadedModel) -> Result<(), Failure> {
    let paths = image_paths(&options.images)?;
    let Gathered {
        per_member,
        used,
        passed_over,
    } = gather_features(model, &paths, &options.flags);
    if used < 2 {
        return Err(Failure::Failed(format!(
            "{used} of {} files are chest radiographs the model could read; reference statistics need at least 2",
            paths.len()
        )));
    }
    let statistics =
        ReferenceStatistics::fit(&per_member, options.percentile).map_err(|e| Failure::Failed(e.to_string()))?;
    let bytes = chexlens_reference::file::to_bytes(&statistics);
    write_atomically(&options.out, &bytes).map_err(Failure::Failed)?;
    let sha256 = sha256_hex(&bytes);
    let thresholds: Vec<String> = statistics
        .members
        .iter()
        .map(|m| format!("{:.3}", m.threshold))
        .collect();
    eprintln!(
        "chexlens: {}: statistics of {used} radiographs ({passed_over} passed over) for {} member(s); warned beyond the {}th percentile of their distances ({})",
        options.out.display(),
        statistics.members.len(),
        options.percentile,
        thresholds.join(", ")
    );
    match &options.manifest {
        Some(manifest) => name_in_manifest(manifest, &options.out, sha256).map_err(Failure::Failed),
        None => {
            eprintln!(
                "chexlens: add to the model's manifest: \"reference_statistics\": {{\"file\": \"{}\", \"sha256\": \"{sha256}\"}}",
                options.out.display()
            );
            Ok(())
        }
    }
}

/// The images' paths, in a fixed order.
fn image_paths(images: &ReferenceImages) -> Result<Vec<PathBuf>, Failure> {
    match images {
        ReferenceImages::Labelled { csv, root } => {
            let bytes =
                read_bounded(csv, MAX_CSV_BYTES).map_err(|e| Failure::Setup(format!("{}: {e}", csv.display())))?;
            let labels = chexlens_chexpert::labels::default_labels();
            let set =
                LabelledSet::parse(&bytes, &labels).map_err(|e| Failure::Setup(format!("{}: {e}", csv.display())))?;
            Ok(set.images.iter().map(|i| root.join(&i.path)).collect())
        }
        ReferenceImages::Folder(folder) => {
            let mut found = Vec::new();
            walk(folder, &mut found).map_err(Failure::Setup)?;
            found.sort();
            Ok(found)
        }
    }
}

/// Every file under `folder`, depth first; hidden files are left out.
fn walk(folder: &Path, found: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries =
        std::fs::read_dir(folder).map_err(|e| format!("{}: cannot read the folder ({e})", folder.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            walk(&path, found)?;
        } else if kind.is_file() {
            if found.len() >= MAX_FOLDER_FILES {
                return Err(format!(
                    "{}: more than {MAX_FOLDER_FILES} files; point at a smaller folder",
                    folder.display()
                ));
            }
            found.push(path);
        }
    }
    Ok(())
}

/// Each member's features of every image used (`per_member[m][i]`), how
/// many were used, and how many files were passed over.
struct Gathered {
    per_member: Vec<Vec<Vec<f32>>>,
    used: usize,
    passed_over: usize,
}

/// The features of every image the model can read and whose file gives no warning.
fn gather_features(model: &LoadedModel, paths: &[PathBuf], flags: &MetadataFlags) -> Gathered {
    let members = model.ensemble.members.len();
    let mut per_member: Vec<Vec<Vec<f32>>> = vec![Vec::with_capacity(paths.len()); members];
    let mut progress = Progress::new(paths.len() as u64, "reference statistics");
    let thresholds = model.ensemble.settings.thresholds.clone();
    let mut passed_over = 0;
    for path in paths {
        match predict::analyse_file(model, path, 0, flags, &thresholds, CamRequest::NONE) {
            Ok(analysed) => {
                // The model's own view of an image is what is being measured:
                // only what its file says keeps it out.
                let file_warnings: Vec<&str> = analysed
                    .assessment
                    .warnings
                    .iter()
                    .filter(|w| w.code != WarningCode::UnlikeReference)
                    .map(|w| w.message.as_str())
                    .collect();
                if file_warnings.is_empty() {
                    for (kept, features) in per_member.iter_mut().zip(analysed.member_features) {
                        kept.push(features);
                    }
                } else {
                    passed_over += 1;
                    progress.println(&format!(
                        "chexlens: {}: passed over: {}",
                        path.display(),
                        file_warnings.join("; ")
                    ));
                }
            }
            Err(reason) => {
                passed_over += 1;
                progress.println(&format!("chexlens: {}: passed over: {reason}", path.display()));
            }
        }
        progress.inc();
    }
    progress.finish();
    let used = per_member.first().map_or(0, Vec::len);
    Gathered {
        per_member,
        used,
        passed_over,
    }
}

/// Names the statistics in the manifest the model came from, by a path
/// relative to it where the file lies in its folder or below. Only that
/// entry changes: the rest of the file is kept as written.
fn name_in_manifest(manifest: &Path, out: &Path, sha256: String) -> Result<(), String> {
    let text = read_manifest_text(manifest)?;
    Manifest::from_json(&text).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let out_absolute = folder_of(out)?.join(out.file_name().unwrap_or_default());
    let file = match out_absolute.strip_prefix(folder_of(manifest)?) {
        Ok(relative) => relative.display().to_string(),
        Err(_) => out_absolute.display().to_string(),
    };
    let mut json: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let spec = ReferenceSpec { file, sha256 };
    json["reference_statistics"] = serde_json::to_value(&spec).map_err(|e| e.to_string())?;
    let written = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())? + "\n";
    Manifest::from_json(&written).map_err(|e| format!("{}: {e}", manifest.display()))?;
    write_atomically(manifest, written.as_bytes())?;
    eprintln!("chexlens: {} now names them", manifest.display());
    Ok(())
}
