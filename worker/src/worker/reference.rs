//! The reference statistics a manifest names: downloaded beside its members
//! (kept offline with them), or found among picked files; checked against
//! their sha256, their bounds and the ensemble before use.

use super::fetch::{FetchError, announced_size, fetch_response, read_body, resolve_url};
use super::load_error::{LoadError, download_error};
use chexlens_checkpoints::manifest::ReferenceSpec;
use chexlens_checkpoints::weights::sha256_hex;
use chexlens_reference::file::{MAX_FILE_BYTES, from_bytes};
use chexlens_reference::statistics::ReferenceStatistics;
use chexlens_web::model_cache::{self, ModelCache, response_with};
use chexlens_web::protocol::LoadStage;
use js_sys::Uint8Array;
use wasm_bindgen_futures::JsFuture;
use web_sys::AbortSignal;

/// Statistics read from an address, the key of their offline copy, and
/// whether that copy is kept.
pub(super) struct FetchedReference {
    pub statistics: ReferenceStatistics,
    pub key: String,
    pub cached: bool,
}

/// Statistics from `bytes`, which must have the sha256 the manifest gives.
pub(super) fn parse(spec: &ReferenceSpec, bytes: &[u8]) -> Result<ReferenceStatistics, LoadError> {
    let name = spec.file_name();
    let found = sha256_hex(bytes);
    if !found.eq_ignore_ascii_case(&spec.sha256) {
        return Err(LoadError::Failed(format!(
            "{name}: sha256 is {found}, not the {} the manifest names",
            spec.sha256
        )));
    }
    from_bytes(bytes).map_err(|e| LoadError::Failed(format!("{name}: {e}")))
}

/// The statistics among picked files, found by the name the manifest gives.
pub(super) fn picked(spec: &ReferenceSpec, files: &[(String, Uint8Array)]) -> Result<ReferenceStatistics, LoadError> {
    let wanted = spec.file_name();
    let Some((_, bytes)) = files.iter().find(|(name, _)| name == wanted) else {
        return Err(LoadError::Failed(format!(
            "the manifest names reference statistics '{wanted}', which are not among the picked files"
        )));
    };
    if u64::from(bytes.length()) > MAX_FILE_BYTES {
        return Err(LoadError::Failed(format!(
            "{wanted}: {} bytes; reference statistics are at most {} MB",
            bytes.length(),
            MAX_FILE_BYTES >> 20
        )));
    }
    parse(spec, &bytes.to_vec())
}

/// Where a download is: what it is, bytes read and expected, as the
/// page's progress line takes them.
pub(super) type Progress<'a> = &'a dyn Fn(LoadStage, u64, Option<u64>, &str);

/// The statistics at `spec.file` (relative to `base`): the offline copy
/// when it checks out, else the network, then kept offline.
pub(super) async fn fetch(
    spec: &ReferenceSpec,
    base: &str,
    cache: Option<&ModelCache>,
    authorization: Option<&str>,
    (signal, progress): (&AbortSignal, Progress<'_>),
) -> Result<FetchedReference, LoadError> {
    let url = resolve_url(&spec.file, Some(base)).map_err(LoadError::Failed)?;
    let key = model_cache::member_key(&url, Some(&spec.sha256));
    let name = spec.file_name();
    if let Some(cache) = cache
        && let Some(statistics) = offline_copy(spec, cache, &key, signal).await?
    {
        return Ok(FetchedReference {
            statistics,
            key,
            cached: true,
        });
    }
    let response = fetch_response(&url, signal, authorization)
        .await
        .map_err(|e| download_error(name, e))?;
    let total = announced_size(&response, "content-length");
    let bytes = read_body(&response, total, MAX_FILE_BYTES, signal, |done, total| {
        progress(LoadStage::Download, done, total, name)
    })
    .await
    .map_err(|e| download_error(name, e))?;
    let statistics = parse(spec, &bytes)?;
    let cached = match cache {
        Some(cache) => keep_offline(cache, &key, &url, &spec.sha256, &bytes).await,
        None => false,
    };
    Ok(FetchedReference {
        statistics,
        key,
        cached,
    })
}

/// The offline copy, if there is one that still checks out (a copy that
/// does not is removed).
async fn offline_copy(
    spec: &ReferenceSpec,
    cache: &ModelCache,
    key: &str,
    signal: &AbortSignal,
) -> Result<Option<ReferenceStatistics>, LoadError> {
    let Some(entry) = cache.get(key).await else {
        return Ok(None);
    };
    let Some(body) = cache.body(&entry).await else {
        cache.delete(key).await;
        return Ok(None);
    };
    let bytes = match read_body(&body, None, MAX_FILE_BYTES, signal, |_, _| {}).await {
        Ok(bytes) => bytes,
        Err(FetchError::Cancelled) => return Err(LoadError::Cancelled),
        Err(_) => {
            cache.delete(key).await;
            return Ok(None);
        }
    };
    match parse(spec, &bytes) {
        Ok(statistics) => Ok(Some(statistics)),
        Err(_) => {
            cache.delete(key).await;
            Ok(None)
        }
    }
}

/// Keeps the statistics in the offline cache, held in the cache entry
/// itself (megabytes, where members are hundreds); whether that worked.
async fn keep_offline(cache: &ModelCache, key: &str, url: &str, sha256: &str, bytes: &[u8]) -> bool {
    let body = Uint8Array::from(bytes);
    let headers = [(model_cache::SOURCE, url), (model_cache::SHA256, sha256)];
    match response_with(&body.into(), &headers) {
        Some(response) => JsFuture::from(cache.put(key, &response)).await.is_ok(),
        None => false,
    }
}
