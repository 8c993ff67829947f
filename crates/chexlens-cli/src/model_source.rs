//! Loading an ensemble from a manifest or from weight files on disk.

use crate::files::{read_bounded, read_manifest_text};
use chexlens_checkpoints::architecture::ArchitectureConfig;
use chexlens_checkpoints::manifest::{Manifest, ModelSettings, ReferenceSpec};
use chexlens_checkpoints::weights::{MAX_FILE_BYTES, read_streamed, sha256_hex};
use chexlens_checkpoints::weights::{StateDict, WeightError, WeightErrorKind};
use chexlens_model::{Device, Ensemble};
use chexlens_reference::statistics::ReferenceStatistics;
use std::path::{Path, PathBuf};

/// A loaded model and the name it is shown under.
pub struct LoadedModel {
    pub name: String,
    pub demo: bool,
    pub ensemble: Ensemble,
    /// The members' reference statistics, where the manifest names them.
    pub reference: Option<ReferenceStatistics>,
    /// Each member's weight file and the sha256 its manifest or the Hub
    /// gives (`None`: not given, hashed only where needed; see `dicom_out`).
    pub member_files: Vec<(PathBuf, Option<String>)>,
}

/// A manifest read from disk, with each member's file beside it.
pub fn read_manifest_file(path: &Path) -> Result<(Manifest, Vec<PathBuf>), String> {
    let text = read_manifest_text(path)?;
    let manifest = Manifest::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let files = manifest
        .members
        .iter()
        .map(|m| {
            if m.is_url() {
                return Err(format!(
                    "{}: member '{}' is a URL; the CLI reads local files only: download it next to the manifest and name the file",
                    path.display(),
                    m.weights
                ));
            }
            Ok(base.join(&m.weights))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((manifest, files))
}

pub fn load_manifest(path: &Path, device: Device) -> Result<LoadedModel, String> {
    let (manifest, files) = read_manifest_file(path)?;
    let members = manifest
        .members
        .iter()
        .zip(&files)
        .map(|(m, file)| {
            read_member(file, m.sha256.as_deref(), manifest.architecture.as_ref())
                .map_err(|e| format!("{}: member {e}", path.display()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ensemble = Ensemble::from_state_dicts(
        members,
        manifest.architecture.clone(),
        manifest.settings.clone(),
        device,
    )
    .map_err(|e| e.to_string())?;
    let reference = match &manifest.reference_statistics {
        Some(spec) => Some(read_reference(path, spec, &ensemble)?),
        None => None,
    };
    let member_files = files
        .into_iter()
        .zip(manifest.members.iter().map(|m| m.sha256.clone()))
        .collect();
    Ok(LoadedModel {
        name: manifest.name,
        demo: manifest.demo,
        ensemble,
        reference,
        member_files,
    })
}

/// The reference statistics a manifest names, checked against their
/// sha256 and against the ensemble they describe.
fn read_reference(manifest: &Path, spec: &ReferenceSpec, ensemble: &Ensemble) -> Result<ReferenceStatistics, String> {
    let file = manifest.parent().unwrap_or(Path::new(".")).join(&spec.file);
    let fail = |e: String| format!("{}: {e}", file.display());
    let bytes = read_bounded(&file, chexlens_reference::file::MAX_FILE_BYTES).map_err(|e| fail(e.to_string()))?;
    let found = sha256_hex(&bytes);
    if !found.eq_ignore_ascii_case(&spec.sha256) {
        return Err(fail(format!(
            "sha256 is {found}, not the {} the manifest names",
            spec.sha256
        )));
    }
    let statistics = chexlens_reference::file::from_bytes(&bytes).map_err(|e| fail(e.to_string()))?;
    let features = ensemble.architecture().dims.last().copied().unwrap_or(0);
    statistics
        .check_fits(ensemble.members.len(), features)
        .map_err(|e| fail(e.to_string()))?;
    Ok(statistics)
}

pub fn load_weights(files: &[PathBuf], device: Device) -> Result<LoadedModel, String> {
    let members = files
        .iter()
        .map(|f| read_member(f, None, None).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let shown: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let name = chexlens_checkpoints::manifest::name_from_files(shown.iter().map(String::as_str));
    let mut model = from_members(members, name, device)?;
    model.member_files = files.iter().map(|f| (f.clone(), None)).collect();
    Ok(model)
}

/// An ensemble of already-read members, with the reference settings and the
/// architecture read off the first.
pub fn from_members(members: Vec<StateDict>, name: String, device: Device) -> Result<LoadedModel, String> {
    let ensemble =
        Ensemble::from_state_dicts(members, None, ModelSettings::default(), device).map_err(|e| e.to_string())?;
    Ok(LoadedModel {
        name,
        demo: false,
        ensemble,
        reference: None,
        member_files: Vec::new(),
    })
}

pub fn read_member(
    file: &Path,
    sha256: Option<&str>,
    architecture: Option<&ArchitectureConfig>,
) -> Result<StateDict, WeightError> {
    let source = file.display().to_string();
    let fail = |kind| WeightError::new(&source, kind);
    let size = std::fs::metadata(file)
        .map_err(|e| fail(WeightErrorKind::Io(e.to_string())))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(fail(WeightErrorKind::FileTooLarge(size)));
    }
    let reader = std::fs::File::open(file).map_err(|e| fail(WeightErrorKind::Io(e.to_string())))?;
    let expect = chexlens_checkpoints::architecture::expect(architecture);
    // Streamed: each tensor is converted as its bytes are read, so the
    // file is never held whole beside its weights.
    read_streamed(reader, &source, expect, sha256)
}

/// A model fetched from the Hub: its own manifest decides, else its
/// weight files with the reference settings, each checked against the
/// sha256 its cached blob is named by.
pub fn load_hub(model: &crate::hub::HubModel, device: Device) -> Result<LoadedModel, String> {
    if let Some(manifest) = &model.manifest {
        return load_manifest(manifest, device);
    }
    let members = model
        .weights
        .iter()
        .map(|(file, sha256)| read_member(file, sha256.as_deref(), None).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let files = model
        .weights
        .iter()
        .filter_map(|(file, _)| file.file_name().map(|n| n.to_string_lossy().into_owned()));
    let name = format!(
        "{}: {}",
        model.name,
        chexlens_checkpoints::manifest::name_from_files(files.collect::<Vec<_>>().iter().map(String::as_str))
    );
    let mut loaded = from_members(members, name, device)?;
    loaded.member_files = model.weights.clone();
    Ok(loaded)
}
