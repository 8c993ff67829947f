//! Requests to the Hub: the file listing and file downloads, with the
//! user's token sent only to the Hub's own origin (never to the storage
//! host a download is redirected to), resumable downloads and a sha256 (or
//! git blob id) check before a file enters the cache.

use super::cache::RepoCache;
use crate::progress::Progress;
use chexlens_hub::{HubFile, HubRepo, Listing, MAX_LISTING_BYTES, request_failure};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use ureq::Agent;
use ureq::http::Response;

const MAX_REDIRECTS: usize = 5;

/// An endpoint and the token for it.
pub struct HubClient {
    agent: Agent,
    endpoint: String,
    token: Option<String>,
}

/// How a request failed, in words for the user (never with the token).
pub enum Failure {
    /// The Hub answered with an error; nothing was written.
    Refused(String),
    /// The connection failed or stopped; what arrived is kept to resume.
    Network(String),
    /// The bytes did not match the listing; they were thrown away.
    Corrupt(String),
    Disk(String),
}

impl Failure {
    pub fn message(self) -> String {
        match self {
            Self::Refused(m) | Self::Network(m) | Self::Corrupt(m) | Self::Disk(m) => m,
        }
    }
}

fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..].find('/').map_or(url.len(), |i| after_scheme + i);
    &url[..end]
}

fn header<'a>(response: &'a Response<ureq::Body>, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

impl HubClient {
    pub fn new(endpoint: String, token: Option<String>) -> Self {
        let config = Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(120)))
            .user_agent(concat!("chexlens/", env!("CARGO_PKG_VERSION")))
            .build();
        Self {
            agent: config.into(),
            endpoint: endpoint.trim_end_matches('/').to_string(),
            token,
        }
    }

    /// A GET that follows redirects itself, so that the token goes to the
    /// endpoint's origin only.
    fn get(&self, url: &str, range_from: u64) -> Result<Response<ureq::Body>, Failure> {
        let mut url = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let mut request = self.agent.get(&url);
            if let Some(token) = &self.token
                && origin(&url) == origin(&self.endpoint)
            {
                request = request.header("Authorization", format!("Bearer {token}"));
            }
            if range_from > 0 {
                request = request.header("Range", format!("bytes={range_from}-"));
            }
            let response = request
                .call()
                .map_err(|e| Failure::Network(format!("cannot reach the Hub at {}: {e}", self.endpoint)))?;
            let status = response.status().as_u16();
            if !(300..400).contains(&status) {
                return Ok(response);
            }
            let location = header(&response, "location")
                .ok_or_else(|| Failure::Network(format!("the Hub redirected ({status}) without an address")))?;
            url = if location.starts_with("http://") || location.starts_with("https://") {
                location.to_string()
            } else if location.starts_with('/') {
                format!("{}{location}", origin(&url))
            } else {
                return Err(Failure::Network(
                    "the Hub redirected to an address it did not complete".into(),
                ));
            };
        }
        Err(Failure::Network(format!(
            "the Hub redirected more than {MAX_REDIRECTS} times"
        )))
    }

    fn refused(&self, repo: &HubRepo, response: &Response<ureq::Body>) -> Failure {
        let status = response.status().as_u16();
        Failure::Refused(request_failure(
            repo,
            status,
            header(response, "x-error-code"),
            self.token.is_some(),
            "set HF_TOKEN (or log in with `hf auth login`) to a token that can read it",
        ))
    }

    /// The revision's files with their sizes and sums.
    pub fn listing(&self, repo: &HubRepo) -> Result<Listing, Failure> {
        let response = self.get(&repo.listing_url(&self.endpoint), 0)?;
        if response.status().as_u16() != 200 {
            return Err(self.refused(repo, &response));
        }
        let mut bytes = Vec::new();
        response
            .into_body()
            .into_reader()
            .take(MAX_LISTING_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Failure::Network(format!("the Hub's file listing was cut short ({e})")))?;
        Listing::from_json(&bytes).map_err(|e| Failure::Refused(e.to_string()))
    }

    /// Downloads one file into the cache's blobs (resuming an interrupted
    /// download), checks it, and returns its blob id.
    pub fn download(
        &self,
        repo: &HubRepo,
        commit: &str,
        file: &HubFile,
        cache: &RepoCache,
        progress_label: &str,
    ) -> Result<String, Failure> {
        let expected = Expected::of(file)?;
        let blob = cache.blob(&expected.digest);
        if blob.is_file() && expected.matches_file(&blob).map_err(disk)? {
            return Ok(expected.digest);
        }
        cache.ensure_blobs_folder().map_err(disk)?;
        let mut partial = Partial::open(cache.incomplete(&expected.digest), &file.path, expected.size)?;
        let url = repo.file_url(&self.endpoint, commit, &file.path);
        let response = self.request_rest(repo, &url, &mut partial, expected.size)?;
        let mut hasher = partial.hashed(&expected)?;
        let partial = partial.receive(response, &mut hasher, &expected, &file.path, progress_label)?;
        if partial.have < expected.size {
            return Err(Failure::Network(format!(
                "the download of {} stopped after {} of {} bytes; run again to resume it",
                file.path, partial.have, expected.size
            )));
        }
        if hasher.finish() != expected.digest {
            partial.discard();
            return Err(Failure::Corrupt(format!(
                "{} arrived with other contents than the Hub lists (its {} differs); it was not kept. Run again to download it afresh",
                file.path,
                expected.kind()
            )));
        }
        partial.keep(&blob)?;
        Ok(expected.digest)
    }

    /// The response that brings the bytes after those `partial` holds, if
    /// any are missing.
    fn request_rest(
        &self,
        repo: &HubRepo,
        url: &str,
        partial: &mut Partial,
        size: u64,
    ) -> Result<Option<Response<ureq::Body>>, Failure> {
        // A download that got every byte but was not checked (the process
        // stopped) needs no request; a server that ignores or refuses the
        // range gets the whole file again.
        let mut response = None;
        while partial.have < size && response.is_none() {
            let answer = self.get(url, partial.have)?;
            match answer.status().as_u16() {
                206 if partial.have > 0 => response = Some(answer),
                200 => {
                    partial.restart()?;
                    response = Some(answer);
                }
                416 if partial.have > 0 => partial.restart()?,
                _ => return Err(self.refused(repo, &answer)),
            }
        }
        Ok(response)
    }
}

fn disk(e: std::io::Error) -> Failure {
    Failure::Disk(format!("cannot write to the Hugging Face cache ({e})"))
}

/// A download's bytes so far: its `.incomplete` file in the cache, locked
/// while it is written, and how many bytes it holds.
struct Partial {
    file: File,
    path: PathBuf,
    have: u64,
}

impl Partial {
    /// Opens (or creates) and locks the file of `hub_path`'s download;
    /// more bytes than the file's `size` are thrown away.
    fn open(path: PathBuf, hub_path: &str, size: u64) -> Result<Self, Failure> {
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(disk)?;
        if file.try_lock().is_err() {
            return Err(Failure::Disk(format!(
                "another download of {hub_path} is under way in the cache"
            )));
        }
        let have = file.metadata().map_err(disk)?.len();
        let mut partial = Self { file, path, have };
        if have > size {
            partial.restart()?;
        }
        Ok(partial)
    }

    /// Empties it, to receive the whole file again.
    fn restart(&mut self) -> Result<(), Failure> {
        self.file.set_len(0).map_err(disk)?;
        self.have = 0;
        Ok(())
    }

    /// A hasher that has read the bytes already there.
    fn hashed(&mut self, expected: &Expected) -> Result<Hasher, Failure> {
        let mut hasher = expected.hasher();
        self.file.seek(SeekFrom::Start(0)).map_err(disk)?;
        std::io::copy(&mut (&self.file).take(self.have), &mut hasher).map_err(disk)?;
        Ok(hasher)
    }

    /// Appends what `response` brings, hashing it, with progress shown. A
    /// stopped connection keeps what arrived; more bytes than the listing
    /// says throw the download away.
    fn receive(
        mut self,
        response: Option<Response<ureq::Body>>,
        hasher: &mut Hasher,
        expected: &Expected,
        hub_path: &str,
        progress_label: &str,
    ) -> Result<Self, Failure> {
        let mut progress = Progress::bytes(expected.size, progress_label);
        progress.advance(self.have);
        let mut reader: Box<dyn Read> = match response {
            Some(response) => Box::new(response.into_body().into_reader()),
            None => Box::new(std::io::empty()),
        };
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            let n = match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    progress.abandon();
                    return Err(Failure::Network(format!(
                        "the download of {hub_path} stopped after {} of {} bytes ({e}); run again to resume it",
                        self.have, expected.size
                    )));
                }
            };
            if self.have + n as u64 > expected.size {
                self.discard();
                progress.abandon();
                return Err(Failure::Corrupt(format!(
                    "{hub_path} is larger than the Hub's listing says; it was not kept"
                )));
            }
            self.file.write_all(&buffer[..n]).map_err(disk)?;
            hasher.update(&buffer[..n]);
            self.have += n as u64;
            progress.advance(n as u64);
        }
        progress.finish();
        Ok(self)
    }

    /// Closes and removes it: its bytes are not the file's.
    fn discard(self) {
        drop(self.file);
        let _ = std::fs::remove_file(&self.path);
    }

    /// Closes it and moves it into the cache as `blob`.
    fn keep(self, blob: &Path) -> Result<(), Failure> {
        self.file.sync_all().map_err(disk)?;
        drop(self.file);
        std::fs::rename(&self.path, blob).map_err(disk)
    }
}

/// What a file's bytes must be: its size and either its LFS sha256 or its
/// git blob id (sha1 of "blob LEN\0" and the bytes). The digest is also the
/// name of its blob in the cache, as `huggingface_hub` names it.
struct Expected {
    size: u64,
    digest: String,
    lfs: bool,
}

enum Hasher {
    Lfs(Sha256),
    Git(Sha1),
}

impl Write for Hasher {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.update(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Hasher {
    fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Lfs(h) => h.update(bytes),
            Self::Git(h) => h.update(bytes),
        }
    }

    fn finish(self) -> String {
        let digest: Vec<u8> = match self {
            Self::Lfs(h) => h.finalize().to_vec(),
            Self::Git(h) => h.finalize().to_vec(),
        };
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl Expected {
    fn of(file: &HubFile) -> Result<Self, Failure> {
        let unlisted = || Failure::Refused(format!("the Hub's listing gives no size or checksum for {}", file.path));
        let size = file.size.ok_or_else(unlisted)?;
        let (digest, lfs) = match (&file.sha256, &file.blob_id) {
            (Some(sha256), _) => (sha256.clone(), true),
            (None, Some(blob_id)) => (blob_id.clone(), false),
            (None, None) => return Err(unlisted()),
        };
        Ok(Self { size, digest, lfs })
    }

    fn kind(&self) -> &'static str {
        if self.lfs { "sha256" } else { "git blob id" }
    }

    fn hasher(&self) -> Hasher {
        if self.lfs {
            Hasher::Lfs(Sha256::new())
        } else {
            let mut h = Sha1::new();
            h.update(format!("blob {}\0", self.size).as_bytes());
            Hasher::Git(h)
        }
    }

    /// Whether a blob already in the cache is this file.
    fn matches_file(&self, path: &Path) -> std::io::Result<bool> {
        let mut file = File::open(path)?;
        if file.metadata()?.len() != self.size {
            return Ok(false);
        }
        let mut hasher = self.hasher();
        std::io::copy(&mut file, &mut hasher)?;
        Ok(hasher.finish() == self.digest)
    }
}
