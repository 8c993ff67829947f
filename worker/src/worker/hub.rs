//! A model from a Hugging Face Hub repository: the revision's listing, the
//! member selection (chexlens-hub's rules, as in the CLI), then the
//! members through the loader's download path, kept offline under their
//! sha256 like any model. The token goes in the Authorization header of
//! requests to the endpoint's origin and nowhere else; it is not stored.

use super::fetch::{FetchError, announced_size, fetch_any_status, read_body, resolve_url};
use super::load_error::LoadError;
use super::loading::{Loaded, Loader, ManifestAt};
use chexlens_checkpoints::manifest::MAX_MANIFEST_BYTES;
use chexlens_checkpoints::manifest::{Manifest, MemberSpec, ModelSettings, ReferenceSpec};
use chexlens_hub as hub;
use chexlens_hub::{HubRepo, Listing, MANIFEST_FILE, MAX_LISTING_BYTES, Selection};
use chexlens_web::model_cache::ModelCache;
use chexlens_web::protocol::LoadStage;

/// How the page takes a token, for the messages that ask for one.
const TOKEN_HINT: &str = "enter a token that can read it (huggingface.co → Settings → Access Tokens)";

/// The address an offline copy of a Hub model is kept under: never fetched.
fn offline_source(repo: &HubRepo) -> String {
    format!("hub:{repo}")
}

/// A Hub request's body, or what its failure means.
async fn hub_get(
    loader: &Loader<'_>,
    repo: &HubRepo,
    url: &str,
    limit: usize,
    authorization: Option<&str>,
    what: &str,
) -> Result<Vec<u8>, HubFailure> {
    let response = fetch_any_status(url, loader.signal, authorization)
        .await
        .map_err(HubFailure::Unreachable)?;
    if !response.ok() {
        let code = response.headers().get("x-error-code").ok().flatten();
        return Err(HubFailure::Refused(hub::request_failure(
            repo,
            response.status(),
            code.as_deref(),
            authorization.is_some(),
            TOKEN_HINT,
        )));
    }
    let total = announced_size(&response, "content-length");
    read_body(&response, total, limit as u64, loader.signal, |done, total| {
        (loader.progress)(LoadStage::Download, done, total, what)
    })
    .await
    .map_err(HubFailure::Unreachable)
}

enum HubFailure {
    /// The Hub answered and refused: its meaning in words.
    Refused(String),
    /// No answer (offline, blocked, cancelled).
    Unreachable(FetchError),
}

impl From<HubFailure> for LoadError {
    fn from(failure: HubFailure) -> Self {
        match failure {
            HubFailure::Refused(m) => LoadError::Failed(m),
            HubFailure::Unreachable(FetchError::Cancelled) => LoadError::Cancelled,
            HubFailure::Unreachable(FetchError::Failed(m)) => LoadError::Failed(format!("cannot reach the Hub: {m}")),
        }
    }
}

/// The Hub's address, which must be http(s), without a trailing slash.
fn hub_endpoint(endpoint: &str) -> Result<String, LoadError> {
    let endpoint = resolve_url(endpoint.trim(), None).map_err(LoadError::Failed)?;
    if !endpoint.starts_with("https://") && !endpoint.starts_with("http://") {
        return Err(LoadError::Failed("the Hub's address must start with https://".into()));
    }
    Ok(endpoint.trim_end_matches('/').to_string())
}

/// The Authorization header for a token, unless it is blank.
fn bearer(token: Option<String>) -> Option<String> {
    token
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .map(|t| format!("Bearer {t}"))
}

/// The model as a manifest of absolute addresses at the listed commit,
/// each member with the sha256 the Hub lists (or its manifest gives), and
/// the bytes the members take where the listing gives every size.
fn pinned_manifest(
    repo: &HubRepo,
    endpoint: &str,
    listing: &Listing,
    repo_manifest: Option<Manifest>,
    members: &[String],
) -> Result<(Manifest, Option<u64>), LoadError> {
    let specs: Vec<MemberSpec> = members
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let listed = listing.file(path).and_then(|f| f.sha256.clone());
            let given = repo_manifest.as_ref().and_then(|m| m.members[i].sha256.clone());
            MemberSpec {
                weights: repo.file_url(endpoint, &listing.commit, path),
                sha256: given.or(listed),
            }
        })
        .collect();
    let total_bytes = members
        .iter()
        .map(|p| listing.file(p).and_then(|f| f.size))
        .sum::<Option<u64>>();
    let short_commit = &listing.commit[..12];
    let reference_statistics = match &repo_manifest {
        Some(m) => hub::manifest_reference(m, listing.files.iter().map(|f| f.path.as_str()))
            .map_err(|e| LoadError::Failed(format!("{repo}: {e}")))?
            .zip(m.reference_statistics.as_ref())
            .map(|(path, spec)| ReferenceSpec {
                file: repo.file_url(endpoint, &listing.commit, &path),
                sha256: spec.sha256.clone(),
            }),
        None => None,
    };
    let (name, description, architecture, settings) = match repo_manifest {
        Some(m) => (
            format!("{} ({}@{short_commit})", m.name, repo.id()),
            m.description,
            m.architecture,
            m.settings,
        ),
        None => (
            format!("{}@{short_commit}", repo.id()),
            None,
            None,
            ModelSettings::default(),
        ),
    };
    let manifest = Manifest {
        name,
        description,
        demo: false,
        members: specs,
        reference_statistics,
        architecture,
        settings,
    };
    manifest.validate().map_err(|e| LoadError::Failed(e.to_string()))?;
    Ok((manifest, total_bytes))
}

impl Loader<'_> {
    pub async fn load_hub(&self, endpoint: &str, repo: &str, token: Option<String>) -> Result<Loaded, LoadError> {
        let repo: HubRepo = repo
            .parse()
            .map_err(|e: hub::HubError| LoadError::Failed(e.to_string()))?;
        let endpoint = hub_endpoint(endpoint)?;
        let authorization = bearer(token);
        let auth = authorization.as_deref();
        let cache = ModelCache::open().await;

        let listing_bytes = match hub_get(
            self,
            &repo,
            &repo.listing_url(&endpoint),
            MAX_LISTING_BYTES,
            auth,
            "file list",
        )
        .await
        {
            Ok(bytes) => bytes,
            // Offline: the copy kept from an earlier load, if there is one.
            Err(HubFailure::Unreachable(FetchError::Failed(m))) => {
                return self.load_kept(&repo, &m).await;
            }
            Err(other) => return Err(other.into()),
        };
        let listing = Listing::from_json(&listing_bytes).map_err(|e| LoadError::Failed(e.to_string()))?;
        let (repo_manifest, members) = self.hub_members(&repo, &endpoint, &listing, auth).await?;
        let (manifest, total_bytes) = pinned_manifest(&repo, &endpoint, &listing, repo_manifest, &members)?;
        let text = serde_json::to_string(&manifest).map_err(|e| LoadError::Failed(e.to_string()))?;
        let source = offline_source(&repo);
        self.load_members(
            ManifestAt {
                source: &source,
                text,
                manifest,
                total_bytes,
            },
            cache.as_ref(),
            auth,
        )
        .await
    }

    /// The members to load, as chexlens-hub selects them from the listing,
    /// with the repository's own manifest where it has one.
    async fn hub_members(
        &self,
        repo: &HubRepo,
        endpoint: &str,
        listing: &Listing,
        auth: Option<&str>,
    ) -> Result<(Option<Manifest>, Vec<String>), LoadError> {
        let paths: Vec<&str> = listing.files.iter().map(|f| f.path.as_str()).collect();
        let selection = hub::select(repo, paths.iter().copied()).map_err(|e| LoadError::Failed(e.to_string()))?;
        match selection {
            Selection::Weights(weights) => Ok((None, weights)),
            Selection::Manifest => {
                let url = repo.file_url(endpoint, &listing.commit, MANIFEST_FILE);
                let bytes = hub_get(self, repo, &url, MAX_MANIFEST_BYTES, auth, MANIFEST_FILE).await?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| LoadError::Failed(format!("{repo}: {MANIFEST_FILE} is not text")))?;
                let manifest = Manifest::from_json(&text)
                    .map_err(|e| LoadError::Failed(format!("{repo}: {MANIFEST_FILE}: {e}")))?;
                let members = hub::manifest_members(&manifest, paths.iter().copied())
                    .map_err(|e| LoadError::Failed(format!("{repo}: {e}")))?;
                Ok((Some(manifest), members))
            }
        }
    }

    /// The Hub cannot be reached: the copy kept offline, else why not.
    async fn load_kept(&self, repo: &HubRepo, network_error: &str) -> Result<Loaded, LoadError> {
        match self.load_url(&offline_source(repo)).await {
            Err(LoadError::Failed(_)) => Err(LoadError::Failed(format!(
                "cannot reach the Hub ({network_error}), and no offline copy of {repo} is kept"
            ))),
            other => other,
        }
    }
}
