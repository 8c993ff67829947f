//! Turning a model source into an ensemble: download, verify, read, prepare,
//! reporting progress and stopping at the first cancel.

use super::fetch::{FetchError, fetch_bytes, resolve_url, yield_to_events};
use crate::protocol::{LoadStage, ModelSource};
use chexlens_model::weights::verify_sha256;
use chexlens_model::{Device, Ensemble, Manifest, ModelSettings, StateDict};
use js_sys::Uint8Array;
use web_sys::AbortSignal;

/// The demo model deployed with the page.
pub const DEMO_MANIFEST: &str = "models/demo/manifest.json";

pub enum LoadError {
    Cancelled,
    Failed(String),
}

impl From<FetchError> for LoadError {
    fn from(e: FetchError) -> Self {
        match e {
            FetchError::Cancelled => LoadError::Cancelled,
            FetchError::Failed(m) => LoadError::Failed(m),
        }
    }
}

/// A model's manifest and its members' bytes, named for messages.
struct Fetched {
    manifest: Option<Manifest>,
    name: String,
    members: Vec<(String, Vec<u8>, Option<String>)>,
}

/// Reports a stage, bytes done, bytes in all (when known) and the file.
pub type Progress = dyn Fn(LoadStage, u64, Option<u64>, &str);

pub struct Loader<'a> {
    pub signal: &'a AbortSignal,
    pub progress: &'a Progress,
}

pub struct Loaded {
    pub ensemble: Ensemble,
    pub name: String,
    pub demo: bool,
}

impl Loader<'_> {
    fn check_cancel(&self) -> Result<(), LoadError> {
        if self.signal.aborted() {
            Err(LoadError::Cancelled)
        } else {
            Ok(())
        }
    }

    pub async fn load(&self, source: ModelSource, files: Vec<Uint8Array>, device: Device) -> Result<Loaded, LoadError> {
        let fetched = match source {
            ModelSource::Demo => self.fetch_manifest_and_members(DEMO_MANIFEST).await?,
            ModelSource::ManifestUrl(url) => self.fetch_manifest_and_members(&url).await?,
            ModelSource::LocalFiles(names) => local_files(names, files)?,
        };
        self.build(fetched, device).await
    }

    async fn download(&self, url: &str, label: &str) -> Result<Vec<u8>, LoadError> {
        let bytes = fetch_bytes(url, self.signal, |done, total| {
            (self.progress)(LoadStage::Download, done, total, label)
        })
        .await
        .map_err(|e| match e {
            FetchError::Failed(m) => LoadError::Failed(format!("{label}: download failed: {m}")),
            other => other.into(),
        })?;
        self.check_cancel()?;
        Ok(bytes)
    }

    async fn fetch_manifest_and_members(&self, url: &str) -> Result<Fetched, LoadError> {
        let manifest_url = resolve_url(url, None).map_err(LoadError::Failed)?;
        let text = self.download(&manifest_url, "manifest").await?;
        let text = String::from_utf8(text).map_err(|_| LoadError::Failed("the manifest is not text".into()))?;
        let manifest = Manifest::from_json(&text).map_err(|e| LoadError::Failed(e.to_string()))?;
        let mut members = Vec::new();
        for member in &manifest.members {
            let url = resolve_url(&member.weights, Some(&manifest_url)).map_err(LoadError::Failed)?;
            let name = member.weights.rsplit('/').next().unwrap_or(&member.weights).to_string();
            let bytes = self.download(&url, &name).await?;
            members.push((name, bytes, member.sha256.clone()));
        }
        Ok(Fetched {
            name: manifest.name.clone(),
            manifest: Some(manifest),
            members,
        })
    }

    async fn build(&self, fetched: Fetched, device: Device) -> Result<Loaded, LoadError> {
        let total: u64 = fetched.members.iter().map(|(_, b, _)| b.len() as u64).sum();
        let mut done = 0;
        let mut weights = Vec::with_capacity(fetched.members.len());
        for (name, bytes, sha256) in fetched.members {
            if let Some(expected) = &sha256 {
                (self.progress)(LoadStage::Verify, done, Some(total), &name);
                yield_to_events().await;
                self.check_cancel()?;
                verify_sha256(&bytes, expected, &name).map_err(|e| LoadError::Failed(e.to_string()))?;
            }
            (self.progress)(LoadStage::Read, done, Some(total), &name);
            yield_to_events().await;
            self.check_cancel()?;
            weights.push(StateDict::from_bytes(&bytes, &name).map_err(|e| LoadError::Failed(e.to_string()))?);
            done += bytes.len() as u64;
        }
        (self.progress)(LoadStage::Prepare, done, Some(total), &fetched.name);
        yield_to_events().await;
        self.check_cancel()?;
        let (architecture, settings, demo) = match fetched.manifest {
            Some(m) => (m.architecture, m.settings, m.demo),
            None => (None, ModelSettings::default(), false),
        };
        let ensemble = Ensemble::from_state_dicts(weights, architecture, settings, device)
            .map_err(|e| LoadError::Failed(e.to_string()))?;
        Ok(Loaded {
            ensemble,
            name: fetched.name,
            demo,
        })
    }
}

/// Picked files: a manifest with its weights, or one to three weight files.
fn local_files(names: Vec<String>, files: Vec<Uint8Array>) -> Result<Fetched, LoadError> {
    let fail = |m: String| Err(LoadError::Failed(m));
    if names.len() != files.len() || names.is_empty() {
        return fail("no files were received".into());
    }
    let mut entries: Vec<(String, Vec<u8>)> = names.into_iter().zip(files.iter().map(|f| f.to_vec())).collect();
    let manifest_at = entries
        .iter()
        .position(|(n, _)| n.to_ascii_lowercase().ends_with(".json"));
    let Some(at) = manifest_at else {
        if entries.len() > 3 {
            return fail(format!(
                "{} weight files picked; an ensemble without a manifest takes one to three",
                entries.len()
            ));
        }
        let name = entries.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(" + ");
        return Ok(Fetched {
            manifest: None,
            name,
            members: entries.into_iter().map(|(n, b)| (n, b, None)).collect(),
        });
    };
    let (manifest_name, text) = entries.remove(at);
    let text = String::from_utf8(text).map_err(|_| LoadError::Failed(format!("{manifest_name} is not text")))?;
    let manifest = Manifest::from_json(&text).map_err(|e| LoadError::Failed(format!("{manifest_name}: {e}")))?;
    let mut members = Vec::new();
    for member in &manifest.members {
        let wanted = member.weights.rsplit('/').next().unwrap_or(&member.weights);
        let Some(i) = entries.iter().position(|(n, _)| n == wanted) else {
            return fail(format!(
                "the manifest names '{wanted}', which is not among the picked files"
            ));
        };
        let (name, bytes) = entries.remove(i);
        members.push((name, bytes, member.sha256.clone()));
    }
    Ok(Fetched {
        name: manifest.name.clone(),
        manifest: Some(manifest),
        members,
    })
}
