//! `--hub OWNER/NAME[@REVISION]`: a model from a Hugging Face Hub
//! repository, fetched into (or found in) the Hugging Face cache.
//!
//! A revision whose snapshot is already in the cache with all its selected
//! files is used without any request; `HF_HUB_OFFLINE=1` never asks the Hub.
//! The token comes from `HF_TOKEN`, else the token file `huggingface_hub`
//! writes, and goes to the endpoint (`HF_ENDPOINT`) alone.

mod cache;
mod client;

use cache::RepoCache;
use chexlens_checkpoints::manifest::Manifest;
use chexlens_hub as hub;
use chexlens_hub::{DEFAULT_ENDPOINT, HubRepo, Listing, MANIFEST_FILE, Selection};
use client::{Failure, HubClient};
use std::path::PathBuf;

/// The files of a Hub model, on disk in the cache.
pub struct HubModel {
    /// The repository's `chexlens.json`, when it has one; its members sit
    /// beside it in the snapshot.
    pub manifest: Option<PathBuf>,
    /// The members' files, in order, each with the sha256 it must have
    /// (LFS files are stored under it).
    pub weights: Vec<(PathBuf, Option<String>)>,
    pub commit: String,
    /// How it is shown: `owner/name@commit`.
    pub name: String,
}

fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "on" | "yes" | "true"))
}

fn endpoint() -> String {
    std::env::var("HF_ENDPOINT")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
}

/// `HF_TOKEN`, else `HF_TOKEN_PATH`'s file, else `$HF_HOME/token`.
fn token() -> Option<String> {
    let from_env = std::env::var("HF_TOKEN").ok();
    let from_file = || {
        let path = std::env::var_os("HF_TOKEN_PATH")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| cache::hf_home().join("token"));
        std::fs::read_to_string(path).ok()
    };
    from_env
        .or_else(from_file)
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// The selected files' repository paths, given what the revision holds.
fn selected_paths(
    repo: &HubRepo,
    paths: &[String],
    read_manifest: impl FnOnce() -> Result<String, String>,
) -> Result<Vec<String>, String> {
    match hub::select(repo, paths.iter().map(String::as_str)).map_err(|e| e.to_string())? {
        Selection::Weights(weights) => Ok(weights),
        Selection::Manifest => {
            let text = read_manifest()?;
            let manifest = Manifest::from_json(&text).map_err(|e| format!("{repo}: {MANIFEST_FILE}: {e}"))?;
            hub::manifest_files(&manifest, paths.iter().map(String::as_str)).map_err(|e| format!("{repo}: {e}"))
        }
    }
}

/// The sha256 a cached file must have: LFS blobs are named by it.
fn blob_sha256(path: &std::path::Path) -> Option<String> {
    let target = std::fs::canonicalize(path).ok()?;
    let name = target.file_name()?.to_str()?;
    (name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())).then(|| name.to_string())
}

fn model_at(repo: &HubRepo, cache: &RepoCache, commit: &str, members: &[String]) -> HubModel {
    let snapshot = cache.snapshot(commit);
    let manifest = Some(snapshot.join(MANIFEST_FILE)).filter(|m| m.is_file());
    let weights = members
        .iter()
        .map(|m| {
            let path = snapshot.join(m);
            let sha = blob_sha256(&path);
            (path, sha)
        })
        .collect();
    HubModel {
        manifest,
        weights,
        commit: commit.to_string(),
        name: format!("{}@{}", repo.id(), &commit[..commit.len().min(12)]),
    }
}

/// The model from the cache alone, if its snapshot holds every member.
fn from_cache(repo: &HubRepo, cache: &RepoCache) -> Result<Option<HubModel>, String> {
    let Some(commit) = cache.cached_commit(repo) else {
        return Ok(None);
    };
    let files = cache.snapshot_files(&commit);
    let manifest_path = cache.snapshot(&commit).join(MANIFEST_FILE);
    let members = match selected_paths(repo, &files, || crate::files::read_manifest_text(&manifest_path)) {
        Ok(members) => members,
        Err(_) => return Ok(None),
    };
    Ok(Some(model_at(repo, cache, &commit, &members)))
}

pub fn fetch(repo: &HubRepo, quiet: bool) -> Result<HubModel, String> {
    let cache = RepoCache::open(repo);
    if let Some(model) = from_cache(repo, &cache)? {
        if !quiet {
            eprintln!("chexlens: {repo}: using the cached snapshot {}", model.commit);
        }
        return Ok(model);
    }
    if offline() {
        return Err(format!(
            "{repo} is not in the Hugging Face cache, and HF_HUB_OFFLINE is set: run once online to fetch it"
        ));
    }
    let client = HubClient::new(endpoint(), token());
    let listing: Listing = client.listing(repo).map_err(Failure::message)?;
    let paths: Vec<String> = listing.files.iter().map(|f| f.path.clone()).collect();
    let download = |path: &str, label: &str| -> Result<(), String> {
        let file = listing
            .file(path)
            .ok_or_else(|| format!("{repo}: {path} is not in the repository"))?;
        let blob = client
            .download(repo, &listing.commit, file, &cache, label)
            .map_err(Failure::message)?;
        cache
            .link(&listing.commit, path, &blob)
            .map_err(|e| format!("cannot write to the Hugging Face cache ({e})"))?;
        Ok(())
    };
    let members = selected_paths(repo, &paths, || {
        download(MANIFEST_FILE, MANIFEST_FILE)?;
        crate::files::read_manifest_text(&cache.snapshot(&listing.commit).join(MANIFEST_FILE))
    })?;
    let total: u64 = members
        .iter()
        .filter_map(|m| listing.file(m).and_then(|f| f.size))
        .sum();
    if !quiet {
        eprintln!(
            "chexlens: {repo}: {} member file(s) at {}, {:.1} MB",
            members.len(),
            listing.commit,
            total as f64 / 1e6
        );
    }
    for (i, member) in members.iter().enumerate() {
        download(member, &format!("{member} ({}/{})", i + 1, members.len()))?;
    }
    cache
        .write_ref(repo, &listing.commit)
        .map_err(|e| format!("cannot write to the Hugging Face cache ({e})"))?;
    Ok(model_at(repo, &cache, &listing.commit, &members))
}
