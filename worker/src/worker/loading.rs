//! Turning a model source into an ensemble: download (or read the offline
//! copy), verify, read, prepare, reporting progress and stopping at the
//! first cancel. Each member's tensors are read as its bytes stream in
//! (here or in a member worker) and the bytes dropped, so no weight file
//! is ever held whole; its checksum is computed on the way.

use super::engine::{Assembly, AssemblyError, Engine, EnginePlan};
use super::fetch::{
    BodyReader, Chunks, FetchError, FilePieces, announced_size, fetch_response, read_body, resolve_url, yield_to_events,
};
use super::load_error::{LoadError, download_error};
use super::reference;
use crate::memory_budget as memory;
use chexlens_checkpoints::manifest;
use chexlens_checkpoints::manifest::{Manifest, ModelSettings};
use chexlens_checkpoints::weights::{MAX_FILE_BYTES, READ_PIECE_BYTES, Sha256Check};
use chexlens_reference::statistics::ReferenceStatistics;
use chexlens_web::model_cache::{self, CopyWriter, ModelCache, response_with};
use chexlens_web::protocol::{LoadStage, ModelSource, TooLarge, megabytes};
use js_sys::Uint8Array;
use std::cell::Cell;
use wasm_bindgen_futures::JsFuture;
use web_sys::AbortSignal;

const MAX_MANIFEST_BYTES: u64 = manifest::MAX_MANIFEST_BYTES as u64;

/// The demo model deployed with the page.
pub const DEMO_MANIFEST: &str = "models/demo/manifest.json";

/// Where a member's bytes come from.
enum BodyOrigin<'a> {
    /// The network, kept offline as it is read where a writer is given.
    Download(Option<&'a mut CopyWriter>),
    OfflineCopy,
    /// A file the user picked.
    Picked,
}

/// Reports a stage, bytes done, bytes in all (when known) and the file.
pub type Progress = dyn Fn(LoadStage, u64, Option<u64>, &str);

pub struct Loader<'a> {
    pub signal: &'a AbortSignal,
    pub progress: &'a Progress,
    pub plan: &'a EnginePlan,
    /// Load only the ensemble's first members.
    pub member_limit: Option<usize>,
    /// The device memory the page reported (GB).
    pub memory_gb: Option<f64>,
    /// Members being loaded, and whether they were checked against the
    /// reported memory (once the first file's index is read).
    pub members: Cell<usize>,
    pub fit_checked: Cell<bool>,
}

pub struct Loaded {
    pub engine: Engine,
    pub name: String,
    pub demo: bool,
    /// Every file is in the offline cache.
    pub offline: bool,
    /// Each member's sha256 as the manifest gives it (and as it was checked).
    pub member_sha256: Vec<Option<String>>,
    /// Members in the whole ensemble, when fewer were loaded.
    pub of_members: Option<usize>,
}

/// A manifest to load: the address its members resolve against (and its
/// offline copy is kept under), its text and parsed form, and the members'
/// total size when known beforehand.
pub(super) struct ManifestAt<'a> {
    pub source: &'a str,
    pub text: String,
    pub manifest: Manifest,
    pub total_bytes: Option<u64>,
}

/// A picked weight file: its name, bytes and expected sha256.
type LocalMember = (String, Uint8Array, Option<String>);

impl Loader<'_> {
    fn check_cancel(&self) -> Result<(), LoadError> {
        if self.signal.aborted() {
            Err(LoadError::Cancelled)
        } else {
            Ok(())
        }
    }

    pub async fn load(&self, source: ModelSource, files: Vec<Uint8Array>) -> Result<Loaded, LoadError> {
        match source {
            ModelSource::Demo => self.load_url(DEMO_MANIFEST).await,
            ModelSource::ManifestUrl(url) => self.load_url(&url).await,
            ModelSource::LocalFiles(names) => self.load_local(names, files).await,
            ModelSource::Hub { endpoint, repo, token } => self.load_hub(&endpoint, &repo, token).await,
        }
    }

    /// Streams a member's bytes into the model being assembled as `name`,
    /// checking its sha256 as it arrives and reporting progress under
    /// `label`; a download hands each chunk read to its cache writer, if
    /// any. The first error stops the read.
    async fn stream_member(
        &self,
        assembly: &mut Assembly,
        body: &mut impl Chunks,
        total: Option<u64>,
        (name, label): (&str, &str),
        sha256: Option<&str>,
        origin: BodyOrigin<'_>,
    ) -> Result<u64, LoadError> {
        let (stage, mut writer) = match origin {
            BodyOrigin::Download(writer) => (LoadStage::Download, writer),
            BodyOrigin::OfflineCopy => (LoadStage::Cached, None),
            BodyOrigin::Picked => (LoadStage::Read, None),
        };
        assembly
            .open(name)
            .await
            .map_err(|e| self.assembly_error(e, name, assembly))?;
        let mut check = sha256.map(Sha256Check::new);
        // Each chunk is copied into this worker once where it is needed here,
        // for the checksum and (members read here) the reader; the buffer is
        // reused. A member worker gets the chunk itself.
        let mut bytes = Vec::new();
        let copy_here = check.is_some() || assembly.reads_here();
        while let Some(chunk) = body.next().await.map_err(|e| download_error(name, e))? {
            if copy_here {
                bytes.resize(chunk.length() as usize, 0);
                chunk.copy_to(&mut bytes);
            }
            if let Some(check) = &mut check {
                check.update(&bytes);
            }
            if let Some(writer) = writer.as_mut() {
                writer.write(&chunk);
            }
            if let Err(e) = assembly.push(&chunk, &bytes).await {
                body.stop();
                return Err(self.assembly_error(e, name, assembly));
            }
            if let Err(e) = self.check_fit(assembly) {
                body.stop();
                return Err(e);
            }
            (self.progress)(stage, body.done(), total, label);
        }
        if let Some(check) = check {
            check.verify(name).map_err(|e| LoadError::Failed(e.to_string()))?;
        }
        self.check_cancel()?;
        assembly
            .close()
            .await
            .map_err(|e| self.assembly_error(e, name, assembly))?;
        // A file smaller than a member worker's piece is read at its close.
        self.check_fit(assembly)?;
        self.check_cancel()?;
        Ok(body.done())
    }

    /// Once the first file's index is read, the ensemble's weights are
    /// checked against the memory the browser reports.
    fn check_fit(&self, assembly: &Assembly) -> Result<(), LoadError> {
        if self.fit_checked.get() {
            return Ok(());
        }
        let (Some(f32_bytes), Some(memory_gb)) = (assembly.f32_bytes(), self.memory_gb) else {
            return Ok(());
        };
        self.fit_checked.set(true);
        let members = self.members.get();
        match memory::shortfall(f32_bytes, members, assembly.workers(), memory_gb) {
            None => Ok(()),
            Some(short) => Err(LoadError::TooLarge(TooLarge {
                message: format!(
                    "this model needs about {} of memory for its {members} member{}, and this device reports {memory_gb} GB, of which a page can count on about {}",
                    megabytes(short.needed),
                    if members == 1 { "" } else { "s" },
                    megabytes(short.budget),
                ),
                members,
                fitting: Some(short.fitting),
                one_worker: short.one_worker_fits,
            })),
        }
    }

    fn assembly_error(&self, e: AssemblyError, name: &str, assembly: &Assembly) -> LoadError {
        match e {
            AssemblyError::Failed(message) => LoadError::Failed(message),
            AssemblyError::NoRoom(needed) => LoadError::TooLarge(TooLarge {
                message: format!(
                    "the browser would not give this page the {} that the weights of {name} take",
                    megabytes(needed)
                ),
                members: self.members.get(),
                fitting: None,
                // Each member worker has its own overhead besides the weights.
                one_worker: assembly.workers() > 1,
            }),
        }
    }

    /// The members to load: the first `member_limit`, or all `count`.
    fn members_to_load(&self, count: usize) -> usize {
        let members = self.member_limit.map_or(count, |limit| limit.clamp(1, count.max(1)));
        self.members.set(members);
        members
    }

    async fn assemble(
        &self,
        assembly: Assembly,
        manifest: Option<Manifest>,
        name: String,
        reference: Option<ReferenceStatistics>,
    ) -> Result<(Engine, bool), LoadError> {
        (self.progress)(LoadStage::Prepare, 0, None, &name);
        yield_to_events().await;
        self.check_cancel()?;
        let (architecture, settings, demo) = match manifest {
            Some(m) => (m.architecture, m.settings, m.demo),
            None => (None, ModelSettings::default(), false),
        };
        let mut engine = assembly
            .build(architecture, settings)
            .await
            .map_err(LoadError::Failed)?;
        if let Some(reference) = &reference {
            reference
                .check_fits(engine.members(), engine.feature_width())
                .map_err(|e| LoadError::Failed(e.to_string()))?;
        }
        engine.reference = reference;
        self.check_cancel()?;
        Ok((engine, demo))
    }

    /// The manifest from the network, else from the offline copy.
    async fn manifest_text(&self, url: &str, cache: Option<&ModelCache>) -> Result<(String, bool), LoadError> {
        let network = match fetch_response(url, self.signal, None).await {
            Ok(response) => {
                let total = announced_size(&response, "content-length");
                read_body(&response, total, MAX_MANIFEST_BYTES, self.signal, |done, total| {
                    (self.progress)(LoadStage::Download, done, total, "manifest")
                })
                .await
            }
            Err(e) => Err(e),
        };
        let network_error = match network {
            Ok(bytes) => {
                let text =
                    String::from_utf8(bytes).map_err(|_| LoadError::Failed("the manifest is not text".into()))?;
                return Ok((text, false));
            }
            Err(FetchError::Cancelled) => return Err(LoadError::Cancelled),
            Err(FetchError::Failed(m)) => m,
        };
        if let Some(cache) = cache
            && let Some(response) = cache.get(&model_cache::manifest_key(url)).await
            && let Ok(promise) = response.text()
            && let Ok(text) = JsFuture::from(promise).await
            && let Some(text) = text.as_string()
        {
            return Ok((text, true));
        }
        Err(LoadError::Failed(format!(
            "manifest: download failed ({network_error}) and no offline copy of this model is kept"
        )))
    }

    /// Reads a member from the offline copy if it checks out, else
    /// downloads it, kept in the cache as it streams in; true when it came
    /// from (or is now in) the offline copy, with its size.
    /// `name` is the file's in messages, `label` its progress line's.
    #[allow(clippy::too_many_arguments)]
    async fn load_member(
        &self,
        assembly: &mut Assembly,
        url: &str,
        name: &str,
        label: &str,
        sha256: Option<&str>,
        cache: Option<&ModelCache>,
        authorization: Option<&str>,
    ) -> Result<(bool, u64), LoadError> {
        let key = model_cache::member_key(url, sha256);
        // Content-addressed entries are used before the network; entries
        // without a checksum only when the network fails.
        if sha256.is_some()
            && let Some(cache) = cache
            && let Some(size) = self.cached_member(assembly, cache, &key, name, label).await?
        {
            return Ok((true, size));
        }
        let response = match fetch_response(url, self.signal, authorization).await {
            Ok(r) => r,
            Err(FetchError::Failed(m)) => {
                if sha256.is_none()
                    && let Some(cache) = cache
                    && let Some(size) = self.cached_member(assembly, cache, &key, name, label).await?
                {
                    return Ok((true, size));
                }
                return Err(LoadError::Failed(format!("{name}: download failed: {m}")));
            }
            Err(e) => return Err(e.into()),
        };
        let total = announced_size(&response, "content-length");
        // Kept only when it can be checked on every read: by checksum, or by
        // the exact size the server announced.
        let size_header = total.map(|t| t.to_string()).unwrap_or_default();
        let mut storing = match cache {
            Some(cache) if sha256.is_some() || total.is_some() => {
                let mut headers = vec![(model_cache::SOURCE, url.to_string())];
                match sha256 {
                    Some(sha) => headers.push((model_cache::SHA256, sha.to_string())),
                    None => headers.push((model_cache::SIZE, size_header)),
                }
                CopyWriter::start(&key, headers).await.map(|writer| (cache, writer))
            }
            _ => None,
        };
        let read = match BodyReader::new(&response, total, MAX_FILE_BYTES, self.signal) {
            Ok(mut body) => {
                let writer = storing.as_mut().map(|(_, writer)| writer);
                self.stream_member(
                    assembly,
                    &mut body,
                    total,
                    (name, label),
                    sha256,
                    BodyOrigin::Download(writer),
                )
                .await
            }
            Err(e) => Err(download_error(name, e)),
        };
        let mut cached = false;
        if let Some((cache, writer)) = storing {
            // Kept only once stored whole, and only a file that passed its
            // checksum and its reading.
            if read.is_ok() {
                cached = writer.finish(cache).await;
            } else {
                writer.abandon().await;
            }
            if !cached {
                cache.delete(&key).await;
            }
        }
        Ok((cached, read?))
    }

    /// Reads a member from its offline copy, checked again as it is read:
    /// its size, or `None` when there is no copy or it failed (then it is removed).
    async fn cached_member(
        &self,
        assembly: &mut Assembly,
        cache: &ModelCache,
        key: &str,
        name: &str,
        label: &str,
    ) -> Result<Option<u64>, LoadError> {
        let Some(entry) = cache.get(key).await else {
            return Ok(None);
        };
        let header = |h: &str| entry.headers().get(h).ok().flatten();
        let size = header(model_cache::SIZE).and_then(|s| s.parse::<u64>().ok());
        let sha = header(model_cache::SHA256);
        let response = match cache.body(&entry).await {
            Some(response) if sha.is_some() || size.is_some() => response,
            _ => {
                cache.delete(key).await;
                return Ok(None);
            }
        };
        let read = match BodyReader::new(&response, size, MAX_FILE_BYTES, self.signal) {
            Ok(mut body) => {
                let read = self
                    .stream_member(
                        assembly,
                        &mut body,
                        size,
                        (name, label),
                        sha.as_deref(),
                        BodyOrigin::OfflineCopy,
                    )
                    .await;
                // Without a checksum, the copy must be exactly the size kept with it.
                match (read, size) {
                    (Ok(read), Some(size)) if sha.is_none() && read != size => Err(LoadError::Failed(
                        "the offline copy is not the size it was kept at".into(),
                    )),
                    (read, _) => read,
                }
            }
            Err(e) => Err(download_error(name, e)),
        };
        match read {
            Ok(read) => Ok(Some(read)),
            Err(LoadError::Failed(_)) => {
                cache.delete(key).await;
                Ok(None)
            }
            Err(other) => Err(other),
        }
    }

    pub(super) async fn load_url(&self, url: &str) -> Result<Loaded, LoadError> {
        let manifest_url = resolve_url(url, None).map_err(LoadError::Failed)?;
        let cache = ModelCache::open().await;
        let (text, _) = self.manifest_text(&manifest_url, cache.as_ref()).await?;
        let manifest = Manifest::from_json(&text).map_err(|e| LoadError::Failed(e.to_string()))?;
        self.load_members(
            ManifestAt {
                source: &manifest_url,
                text,
                manifest,
                total_bytes: None,
            },
            cache.as_ref(),
            None,
        )
        .await
    }

    /// Downloads (or reads the offline copies of) a manifest's members and
    /// builds the ensemble; the manifest is kept offline when every member is.
    /// `authorization` goes with each member's request (the Hub's token).
    pub(super) async fn load_members(
        &self,
        at: ManifestAt<'_>,
        cache: Option<&ModelCache>,
        authorization: Option<&str>,
    ) -> Result<Loaded, LoadError> {
        let ManifestAt {
            source,
            text,
            manifest,
            total_bytes: announced_total,
        } = at;
        let in_model = manifest.members.len();
        let count = self.members_to_load(in_model);
        let mut assembly = self.plan.assembly(count).await;
        let mut keys = Vec::new();
        // Part of an ensemble is not kept for offline use as if it were the model.
        let mut all_cached = count == in_model;
        let mut total_bytes = 0u64;
        for (i, member) in manifest.members.iter().take(count).enumerate() {
            let url = resolve_url(&member.weights, Some(source)).map_err(LoadError::Failed)?;
            let name = member.file_name().to_string();
            let label = match (count, announced_total) {
                (1, None) => name.clone(),
                (_, None) => format!("{name} (file {} of {count})", i + 1),
                (_, Some(total)) => format!("{name} (file {} of {count}, {} in all)", i + 1, megabytes(total)),
            };
            let sha = member.sha256.as_deref();
            let (cached, size) = self
                .load_member(&mut assembly, &url, &name, &label, sha, cache, authorization)
                .await?;
            all_cached &= cached;
            total_bytes += size;
            keys.push(model_cache::member_key(&url, sha));
        }
        let reference = match &manifest.reference_statistics {
            Some(spec) => {
                let fetched =
                    reference::fetch(spec, source, cache, authorization, (self.signal, self.progress)).await?;
                all_cached &= fetched.cached;
                keys.push(fetched.key);
                Some(fetched.statistics)
            }
            None => None,
        };
        let name = manifest.name.clone();
        let member_sha256 = manifest.members.iter().take(count).map(|m| m.sha256.clone()).collect();
        let (engine, demo) = self.assemble(assembly, Some(manifest), name.clone(), reference).await?;
        let offline = match (cache, all_cached) {
            (Some(cache), true) => {
                let total = total_bytes.to_string();
                let members = keys.join(" ");
                let headers = [
                    (model_cache::NAME, name.as_str()),
                    (model_cache::SOURCE, source),
                    (model_cache::SIZE, total.as_str()),
                    (model_cache::MEMBERS, members.as_str()),
                ];
                match response_with(&text.into(), &headers) {
                    Some(r) => JsFuture::from(cache.put(&model_cache::manifest_key(source), &r))
                        .await
                        .is_ok(),
                    None => false,
                }
            }
            _ => false,
        };
        Ok(Loaded {
            engine,
            name,
            demo,
            offline,
            member_sha256,
            of_members: (count < in_model).then_some(in_model),
        })
    }

    /// Picked files: a manifest with its weights, or one to three weight files.
    async fn load_local(&self, names: Vec<String>, files: Vec<Uint8Array>) -> Result<Loaded, LoadError> {
        let fail = |m: String| Err(LoadError::Failed(m));
        if names.len() != files.len() || names.is_empty() {
            return fail("no files were received".into());
        }
        let mut entries: Vec<(String, Uint8Array)> = names.into_iter().zip(files).collect();
        let mut reference = None;
        let manifest_at = entries.iter().position(|(n, _)| manifest::is_manifest_file(n));
        let (manifest, members): (Option<Manifest>, Vec<LocalMember>) = match manifest_at {
            None => {
                if entries.len() > 3 {
                    return fail(format!(
                        "{} weight files picked; an ensemble without a manifest takes one to three",
                        entries.len()
                    ));
                }
                (None, entries.into_iter().map(|(n, b)| (n, b, None)).collect())
            }
            Some(at) => {
                let (manifest_name, text) = entries.remove(at);
                let text = String::from_utf8(text.to_vec())
                    .map_err(|_| LoadError::Failed(format!("{manifest_name} is not text")))?;
                let manifest =
                    Manifest::from_json(&text).map_err(|e| LoadError::Failed(format!("{manifest_name}: {e}")))?;
                let mut members = Vec::new();
                if let Some(spec) = &manifest.reference_statistics {
                    reference = Some(reference::picked(spec, &entries)?);
                }
                for member in &manifest.members {
                    let wanted = member.file_name();
                    let Some(i) = entries.iter().position(|(n, _)| n == wanted) else {
                        return fail(format!(
                            "the manifest names '{wanted}', which is not among the picked files"
                        ));
                    };
                    let (name, bytes) = entries.remove(i);
                    members.push((name, bytes, member.sha256.clone()));
                }
                (Some(manifest), members)
            }
        };
        let name = match &manifest {
            Some(m) => m.name.clone(),
            None => manifest::name_from_files(members.iter().map(|(n, _, _)| n.as_str())),
        };
        let in_model = members.len();
        let count = self.members_to_load(in_model);
        let member_sha256 = members.iter().take(count).map(|(_, _, sha)| sha.clone()).collect();
        let mut assembly = self.plan.assembly(count).await;
        for (member, file, sha) in members.into_iter().take(count) {
            // Read in pieces as a download would be: only a piece at a
            // time is copied into this worker.
            let mut pieces = FilePieces::new(&file, READ_PIECE_BYTES as u32, self.signal);
            let total = Some(u64::from(file.length()));
            self.stream_member(
                &mut assembly,
                &mut pieces,
                total,
                (&member, &member),
                sha.as_deref(),
                BodyOrigin::Picked,
            )
            .await?;
        }
        let (engine, demo) = self.assemble(assembly, manifest, name.clone(), reference).await?;
        Ok(Loaded {
            engine,
            name,
            demo,
            offline: false,
            member_sha256,
            of_members: (count < in_model).then_some(in_model),
        })
    }
}
