//! `chexlens deploy`: a model made ready for a static host, beside the
//! page. Each member is written as .safetensors (f16 unless asked for f32,
//! only the tensors the model uses) into `OUT/models/`, with
//! `OUT/models/manifest.json` naming them with their sha256 sums and the
//! source's settings; the page's "Load deployed model" finds it there.

use crate::convert::{to_safetensors, write_atomically};
use crate::hub::HubModel;
use crate::model_source::{self, read_manifest_file};
use chexlens_checkpoints::architecture::ArchitectureConfig;
use chexlens_checkpoints::manifest::{Manifest, MemberSpec, ModelSettings, ReferenceSpec};
use chexlens_checkpoints::weights::sha256_hex;
use chexlens_model::Device;
use std::path::{Path, PathBuf};

/// The reference statistics' name beside the deployed members.
const REFERENCE_FILE: &str = "reference.safetensors";

pub enum Source {
    Hub(HubModel),
    Manifest(PathBuf),
    Weights(Vec<PathBuf>),
}

/// A member to write: where its file is, the sha256 it must have, and the
/// name it is deployed under.
struct Member {
    file: PathBuf,
    sha256: Option<String>,
    deployed_as: String,
}

struct Plan {
    name: String,
    description: Option<String>,
    architecture: Option<ArchitectureConfig>,
    settings: ModelSettings,
    members: Vec<Member>,
    /// The source manifest's reference statistics: the file and what names it.
    reference: Option<(PathBuf, ReferenceSpec)>,
}

fn deployed_name(file: &Path, taken: &[Member]) -> String {
    let stem = file
        .file_stem()
        .map_or_else(|| "member".into(), |s| s.to_string_lossy().into_owned());
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut name = format!("{stem}.safetensors");
    let mut n = 2;
    while taken.iter().any(|m| m.deployed_as == name) {
        name = format!("{stem}-{n}.safetensors");
        n += 1;
    }
    name
}

fn plan_from_manifest(path: &Path, name_suffix: &str) -> Result<Plan, String> {
    let (manifest, files) = read_manifest_file(path)?;
    let mut members: Vec<Member> = Vec::new();
    for (m, file) in manifest.members.iter().zip(files) {
        let deployed_as = deployed_name(&file, &members);
        members.push(Member {
            file,
            sha256: m.sha256.clone(),
            deployed_as,
        });
    }
    let base = path.parent().unwrap_or(Path::new("."));
    Ok(Plan {
        name: format!("{}{name_suffix}", manifest.name),
        description: manifest.description,
        architecture: manifest.architecture,
        settings: manifest.settings,
        members,
        reference: manifest.reference_statistics.map(|spec| (base.join(&spec.file), spec)),
    })
}

fn plan_from_files(name: String, files: Vec<(PathBuf, Option<String>)>) -> Plan {
    let mut members: Vec<Member> = Vec::new();
    for (file, sha256) in files {
        let deployed_as = deployed_name(&file, &members);
        members.push(Member {
            file,
            sha256,
            deployed_as,
        });
    }
    Plan {
        name,
        description: None,
        architecture: None,
        settings: ModelSettings::default(),
        members,
        reference: None,
    }
}

fn plan(source: Source) -> Result<Plan, String> {
    match source {
        Source::Hub(model) => match &model.manifest {
            Some(manifest) => plan_from_manifest(manifest, &format!(" ({})", model.name)),
            None => Ok(plan_from_files(model.name.clone(), model.weights)),
        },
        Source::Manifest(path) => plan_from_manifest(&path, ""),
        Source::Weights(files) => {
            let shown: Vec<String> = files
                .iter()
                .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect();
            let name = chexlens_checkpoints::manifest::name_from_files(shown.iter().map(String::as_str));
            Ok(plan_from_files(name, files.into_iter().map(|f| (f, None)).collect()))
        }
    }
}

pub fn run(source: Source, out: &Path, half: bool) -> Result<(), String> {
    let plan = plan(source)?;
    let folder = out.join("models");
    std::fs::create_dir_all(&folder).map_err(|e| format!("{}: cannot create the folder ({e})", folder.display()))?;
    let mut specs = Vec::new();
    let mut total = 0u64;
    for (i, member) in plan.members.iter().enumerate() {
        let state = model_source::read_member(&member.file, member.sha256.as_deref(), plan.architecture.as_ref())
            .map_err(|e| e.to_string())?;
        // Built once to check the weights and to know which tensors it uses.
        let model = model_source::from_members(vec![state.clone()], member.deployed_as.clone(), Device::flex())?;
        let source = member
            .file
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let (written, _) = to_safetensors(&state, &model, half, &source);
        drop((state, model));
        write_atomically(&folder.join(&member.deployed_as), &written.bytes)?;
        total += written.bytes.len() as u64;
        eprintln!(
            "chexlens: member {}/{}: {} -> models/{} ({:.1} MB{})",
            i + 1,
            plan.members.len(),
            member.file.display(),
            member.deployed_as,
            written.bytes.len() as f64 / 1e6,
            if written.kept_f32.is_empty() {
                String::new()
            } else {
                format!("; {} tensor(s) kept in f32", written.kept_f32.len())
            }
        );
        specs.push(MemberSpec {
            weights: member.deployed_as.clone(),
            sha256: Some(sha256_hex(&written.bytes)),
        });
    }
    let reference_statistics = match &plan.reference {
        Some((file, spec)) => Some(deploy_reference(file, spec, &folder)?),
        None => None,
    };
    let manifest = Manifest {
        name: plan.name,
        description: plan.description,
        demo: false,
        members: specs,
        reference_statistics,
        architecture: plan.architecture,
        settings: plan.settings,
    };
    manifest.validate().map_err(|e| e.to_string())?;
    let json = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
    write_atomically(&folder.join("manifest.json"), json.as_bytes())?;
    println!(
        "{}: '{}', {} member(s), {} weights; the page downloads {:.1} MB",
        folder.join("manifest.json").display(),
        manifest.name,
        manifest.members.len(),
        if half { "f16" } else { "f32" },
        total as f64 / 1e6
    );
    Ok(())
}

/// Copies the reference statistics beside the members, once checked
/// against their sha256 and read whole.
fn deploy_reference(file: &Path, spec: &ReferenceSpec, folder: &Path) -> Result<ReferenceSpec, String> {
    let bytes = crate::files::read_bounded(file, chexlens_reference::file::MAX_FILE_BYTES)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let found = sha256_hex(&bytes);
    if !found.eq_ignore_ascii_case(&spec.sha256) {
        return Err(format!(
            "{}: sha256 is {found}, not the {} the manifest names",
            file.display(),
            spec.sha256
        ));
    }
    chexlens_reference::file::from_bytes(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
    let deployed = ReferenceSpec {
        file: REFERENCE_FILE.to_owned(),
        sha256: found,
    };
    write_atomically(&folder.join(REFERENCE_FILE), &bytes)?;
    println!("{}: reference statistics", folder.join(REFERENCE_FILE).display());
    Ok(deployed)
}
