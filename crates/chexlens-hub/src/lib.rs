//! The Hugging Face Hub's side of loading a model, shared by the CLI and the
//! page: which repository and revision a user named, the file listing the
//! Hub's API returns, which of its files make the ensemble, and what a failed
//! request means. The network and the cache live with each caller.

use chexlens_checkpoints::manifest::Manifest;
use serde::Deserialize;
use std::fmt;
use std::str::FromStr;

/// Where the Hub is when `HF_ENDPOINT` (or the page's field) says nothing.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
/// A repository's own manifest: which files are the members, in what order.
pub const MANIFEST_FILE: &str = "chexlens.json";
/// The listing of a model repository is a few kB; a huge one is refused
/// before it is parsed.
pub const MAX_LISTING_BYTES: usize = 8 << 20;
pub const MAX_LISTED_FILES: usize = 20_000;
/// Without a manifest an ensemble is one to three weight files, as on the page.
pub const MAX_MEMBERS_WITHOUT_MANIFEST: usize = 3;
const MAX_PATH: usize = 1000;
const MAX_NAME: usize = 96;
const MAX_REVISION: usize = 256;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HubError {
    #[error("'{0}' is not a Hub repository: write it as OWNER/NAME or OWNER/NAME@REVISION")]
    BadRepository(String),
    #[error("the revision '{0}' is not a branch, tag or commit name")]
    BadRevision(String),
    #[error("the Hub's file listing {0}")]
    BadListing(String),
    #[error("{repo} has no weight files (.pth or .safetensors) at {revision}")]
    NoWeights { repo: String, revision: String },
    #[error(
        "{repo} has {count} weight files and no {MANIFEST_FILE}; add a {MANIFEST_FILE} manifest naming the members, or load them as local files"
    )]
    TooManyWeights { repo: String, count: usize },
    #[error("{MANIFEST_FILE} names '{0}', which is not a file in the repository")]
    MissingMember(String),
}

/// `OWNER/NAME[@REVISION]`, checked so that it is safe in a URL and as a
/// cache folder name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubRepo {
    pub owner: String,
    pub name: String,
    pub revision: String,
}

fn valid_name_part(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= MAX_NAME
        && part.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !part.starts_with(['-', '.'])
        && !part.ends_with(['-', '.'])
        && !part.contains("--")
        && !part.contains("..")
}

fn valid_revision(revision: &str) -> bool {
    !revision.is_empty()
        && revision.len() <= MAX_REVISION
        && revision
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        && revision.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
}

impl FromStr for HubRepo {
    type Err = HubError;

    fn from_str(text: &str) -> Result<Self, HubError> {
        let text = text.trim();
        let (id, revision) = match text.split_once('@') {
            Some((id, revision)) => (id, revision),
            None => (text, "main"),
        };
        let bad = || HubError::BadRepository(text.chars().take(200).collect());
        let (owner, name) = id.split_once('/').ok_or_else(bad)?;
        if !valid_name_part(owner) || !valid_name_part(name) {
            return Err(bad());
        }
        if !valid_revision(revision) {
            return Err(HubError::BadRevision(revision.chars().take(200).collect()));
        }
        Ok(Self {
            owner: owner.into(),
            name: name.into(),
            revision: revision.into(),
        })
    }
}

impl fmt::Display for HubRepo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)?;
        if self.revision != "main" {
            write!(f, "@{}", self.revision)?;
        }
        Ok(())
    }
}

/// `/` inside a revision ("refs/pr/1") is escaped as the Hub expects.
fn url_revision(revision: &str) -> String {
    revision.replace('/', "%2F")
}

/// Repository paths are encoded segment by segment; `/` stays.
fn url_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

impl HubRepo {
    pub fn id(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// The repository's folder in the Hugging Face cache (`$HF_HOME/hub`),
    /// as `huggingface_hub` names it.
    pub fn cache_folder(&self) -> String {
        format!("models--{}--{}", self.owner, self.name)
    }

    /// Whether the revision is a commit hash rather than a branch or tag.
    pub fn revision_is_commit(&self) -> bool {
        is_commit(&self.revision)
    }

    /// The listing of the revision's files, with sizes and LFS sha256 sums.
    pub fn listing_url(&self, endpoint: &str) -> String {
        format!(
            "{}/api/models/{}/revision/{}?blobs=true",
            endpoint.trim_end_matches('/'),
            self.id(),
            url_revision(&self.revision)
        )
    }

    /// One file at a commit (or at the revision).
    pub fn file_url(&self, endpoint: &str, commit: &str, path: &str) -> String {
        format!(
            "{}/{}/resolve/{}/{}",
            endpoint.trim_end_matches('/'),
            self.id(),
            url_revision(commit),
            url_path(path)
        )
    }
}

pub fn is_commit(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A repository path that cannot leave the repository's folder.
pub fn is_safe_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= MAX_PATH
        && !path.contains('\\')
        && !path.chars().any(char::is_control)
        && path.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
}

/// One file of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct HubFile {
    pub path: String,
    pub size: Option<u64>,
    /// The LFS object's sha256: what the file's bytes must hash to.
    pub sha256: Option<String>,
    /// The git blob id (sha1 of `blob LEN\0` and the bytes), for files
    /// kept in git itself rather than LFS.
    pub blob_id: Option<String>,
}

/// A revision's files, at the commit the revision pointed to.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    pub commit: String,
    pub files: Vec<HubFile>,
}

#[derive(Deserialize)]
struct RawListing {
    sha: String,
    #[serde(default)]
    siblings: Vec<RawSibling>,
}

#[derive(Deserialize)]
struct RawSibling {
    rfilename: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    lfs: Option<RawLfs>,
    #[serde(default, rename = "blobId")]
    blob_id: Option<String>,
}

#[derive(Deserialize)]
struct RawLfs {
    sha256: String,
    size: u64,
}

impl Listing {
    /// Reads `GET /api/models/OWNER/NAME/revision/REV?blobs=true`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, HubError> {
        let bad = |m: String| HubError::BadListing(m);
        if bytes.len() > MAX_LISTING_BYTES {
            return Err(bad(format!(
                "is {} bytes; at most {MAX_LISTING_BYTES} are read",
                bytes.len()
            )));
        }
        let raw: RawListing = serde_json::from_slice(bytes).map_err(|e| bad(format!("is not valid: {e}")))?;
        if !is_commit(&raw.sha) {
            return Err(bad("names no commit".into()));
        }
        if raw.siblings.len() > MAX_LISTED_FILES {
            return Err(bad(format!(
                "lists {} files; at most {MAX_LISTED_FILES} are read",
                raw.siblings.len()
            )));
        }
        let mut files = Vec::with_capacity(raw.siblings.len());
        for sibling in raw.siblings {
            // Files whose names could escape a folder are never selected or written.
            if !is_safe_path(&sibling.rfilename) {
                continue;
            }
            let (size, sha256) = match sibling.lfs {
                Some(lfs) if lfs.sha256.len() == 64 && lfs.sha256.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    (Some(lfs.size), Some(lfs.sha256.to_ascii_lowercase()))
                }
                Some(_) => return Err(bad(format!("gives '{}' a malformed sha256", sibling.rfilename))),
                None => (sibling.size, None),
            };
            let blob_id = sibling
                .blob_id
                .filter(|id| is_commit(id))
                .map(|id| id.to_ascii_lowercase());
            files.push(HubFile {
                path: sibling.rfilename,
                size,
                sha256,
                blob_id,
            });
        }
        Ok(Self {
            commit: raw.sha.to_ascii_lowercase(),
            files,
        })
    }

    pub fn file(&self, path: &str) -> Option<&HubFile> {
        self.files.iter().find(|f| f.path == path)
    }
}

/// Which files of a repository make the ensemble.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    /// The repository's `chexlens.json` names them.
    Manifest,
    /// Its weight files, in name order.
    Weights(Vec<String>),
}

fn is_weight_file(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.ends_with(".pth") || lower.ends_with(".safetensors")
}

fn stem(path: &str) -> &str {
    path.rsplit_once('.').map_or(path, |(stem, _)| stem)
}

/// The rule: a `chexlens.json` at the top of the repository decides;
/// otherwise every `.pth` and `.safetensors` file, in name order, one to
/// three of them. Where a member is there in both formats (`m.pth` and
/// `m.safetensors`), the `.safetensors` is taken: the same weights, read
/// without unpickling.
pub fn select<'a>(repo: &HubRepo, paths: impl IntoIterator<Item = &'a str>) -> Result<Selection, HubError> {
    let paths: Vec<&str> = paths.into_iter().collect();
    if paths.contains(&MANIFEST_FILE) {
        return Ok(Selection::Manifest);
    }
    let mut weights: Vec<&str> = paths.iter().copied().filter(|p| is_weight_file(p)).collect();
    weights.sort_unstable();
    weights.dedup();
    let safetensors_stems: Vec<&str> = weights
        .iter()
        .filter(|p| p.to_ascii_lowercase().ends_with(".safetensors"))
        .map(|p| stem(p))
        .collect();
    weights.retain(|p| p.to_ascii_lowercase().ends_with(".safetensors") || !safetensors_stems.contains(&stem(p)));
    match weights.len() {
        0 => Err(HubError::NoWeights {
            repo: repo.id(),
            revision: repo.revision.clone(),
        }),
        n if n > MAX_MEMBERS_WITHOUT_MANIFEST => Err(HubError::TooManyWeights {
            repo: repo.id(),
            count: n,
        }),
        _ => Ok(Selection::Weights(weights.into_iter().map(String::from).collect())),
    }
}

/// The repository paths a repository's own manifest names, checked to be
/// files of it: a manifest on the Hub names files beside it, not addresses.
pub fn manifest_members<'a>(
    manifest: &Manifest,
    paths: impl IntoIterator<Item = &'a str> + Clone,
) -> Result<Vec<String>, HubError> {
    manifest
        .members
        .iter()
        .map(|m| {
            let path = m.weights.trim_start_matches("./");
            if m.is_url() || !is_safe_path(path) || !paths.clone().into_iter().any(|p| p == path) {
                return Err(HubError::MissingMember(m.weights.chars().take(200).collect()));
            }
            Ok(path.to_string())
        })
        .collect()
}

/// The repository path of the reference statistics a repository's own
/// manifest names, checked to be a file of it as members are.
pub fn manifest_reference<'a>(
    manifest: &Manifest,
    paths: impl IntoIterator<Item = &'a str>,
) -> Result<Option<String>, HubError> {
    let Some(reference) = &manifest.reference_statistics else {
        return Ok(None);
    };
    let path = reference.file.trim_start_matches("./");
    if !is_safe_path(path) || !paths.into_iter().any(|p| p == path) {
        return Err(HubError::MissingMember(reference.file.chars().take(200).collect()));
    }
    Ok(Some(path.to_string()))
}

/// Every file a repository's own manifest needs: its members, then its
/// reference statistics if it names them.
pub fn manifest_files<'a>(
    manifest: &Manifest,
    paths: impl IntoIterator<Item = &'a str> + Clone,
) -> Result<Vec<String>, HubError> {
    let mut files = manifest_members(manifest, paths.clone())?;
    files.extend(manifest_reference(manifest, paths)?);
    Ok(files)
}

/// What a failed Hub request means, in words. `error_code` is the Hub's
/// `X-Error-Code` header; `token_hint` says how this program takes a token.
/// Never contains the token.
pub fn request_failure(
    repo: &HubRepo,
    status: u16,
    error_code: Option<&str>,
    had_token: bool,
    token_hint: &str,
) -> String {
    let id = repo.id();
    match (status, error_code) {
        (_, Some("RevisionNotFound")) => format!("{id} has no revision '{}'", repo.revision),
        (_, Some("EntryNotFound")) => format!("a file of {id} is not at revision '{}'", repo.revision),
        (_, Some("GatedRepo")) => {
            format!("{id} is gated: accept its conditions on the Hub's page with the account whose token you use")
        }
        (401, _) | (_, Some("RepoNotFound")) if !had_token => {
            format!("{id} was not found, or it is private: {token_hint}")
        }
        // The Hub answers RepoNotFound alike for a missing repository and
        // one the token cannot read.
        (_, Some("RepoNotFound")) | (404, _) => format!("{id} was not found, or the token has no access to it"),
        (401, _) => format!("the Hub refused the token for {id}: it is invalid or expired"),
        (403, _) => format!("the token has no access to {id}"),
        (429, _) => "the Hub is limiting requests; try again in a minute".into(),
        (s, _) if s >= 500 => format!("the Hub failed ({s}); try again later"),
        (s, _) => format!("the Hub answered {s} for {id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(text: &str) -> HubRepo {
        text.parse().unwrap()
    }

    #[test]
    fn repositories_and_revisions_are_parsed_and_checked() {
        let r = repo("calender/Ensemble_C");
        assert_eq!(
            (r.owner.as_str(), r.name.as_str(), r.revision.as_str()),
            ("calender", "Ensemble_C", "main")
        );
        assert_eq!(r.cache_folder(), "models--calender--Ensemble_C");
        let r = repo("a/b@refs/pr/1");
        assert_eq!(r.revision, "refs/pr/1");
        assert_eq!(
            r.listing_url("http://h/"),
            "http://h/api/models/a/b/revision/refs%2Fpr%2F1?blobs=true"
        );
        assert_eq!(
            r.file_url("http://h", "c0ffee", "dir/m 1.pth"),
            "http://h/a/b/resolve/c0ffee/dir/m%201.pth"
        );
        for bad in [
            "",
            "a",
            "a/b/c",
            "../b",
            "a/..",
            "a/b--c",
            "a/-b",
            "a b/c",
            "a/b@",
            "a/b@x/../y",
            "a/b@x y",
        ] {
            assert!(bad.parse::<HubRepo>().is_err(), "{bad}");
        }
        assert_eq!(repo("a/b@v1").to_string(), "a/b@v1");
    }

    #[test]
    fn a_listing_gives_sizes_and_lfs_sums_and_drops_unsafe_names() {
        let sha = "a".repeat(64);
        let json = format!(
            r#"{{"id":"a/b","sha":"{}","private":true,"siblings":[
            {{"rfilename":"chexlens.json","size":120,"blobId":"{}"}},
            {{"rfilename":"m1.pth","size":5,"lfs":{{"sha256":"{sha}","size":5,"pointerSize":130}}}},
            {{"rfilename":"../evil.pth"}}]}}"#,
            "0".repeat(40),
            "b".repeat(40)
        );
        let listing = Listing::from_json(json.as_bytes()).unwrap();
        assert_eq!(listing.files.len(), 2);
        assert_eq!(listing.file("m1.pth").unwrap().sha256.as_deref(), Some(sha.as_str()));
        assert_eq!(listing.file("chexlens.json").unwrap().size, Some(120));
        assert_eq!(listing.file("chexlens.json").unwrap().blob_id, Some("b".repeat(40)));
        assert!(Listing::from_json(br#"{"sha":"main","siblings":[]}"#).is_err());
        assert!(Listing::from_json(b"not json").is_err());
        let bad_sum = format!(
            r#"{{"sha":"{}","siblings":[{{"rfilename":"m.pth","lfs":{{"sha256":"zz","size":1}}}}]}}"#,
            "0".repeat(40)
        );
        assert!(Listing::from_json(bad_sum.as_bytes()).is_err());
    }

    #[test]
    fn the_manifest_decides_else_weights_in_name_order() {
        let r = repo("a/b");
        assert_eq!(
            select(&r, ["README.md", "chexlens.json", "x.pth"]).unwrap(),
            Selection::Manifest
        );
        assert_eq!(
            select(&r, ["m2.pth", "README.md", "m1.safetensors", "m1.pth", "m3.PTH"]).unwrap(),
            Selection::Weights(vec!["m1.safetensors".into(), "m2.pth".into(), "m3.PTH".into()])
        );
        assert!(matches!(select(&r, ["README.md"]), Err(HubError::NoWeights { .. })));
        assert!(matches!(
            select(&r, ["1.pth", "2.pth", "3.pth", "4.pth"]),
            Err(HubError::TooManyWeights { count: 4, .. })
        ));
    }

    #[test]
    fn a_manifests_reference_statistics_are_fetched_with_its_members() {
        let text = |reference: &str| {
            format!(
                r#"{{"name":"m","members":[{{"weights":"w/m0.pth"}}],
                "reference_statistics":{{"file":"{reference}","sha256":"{}"}}}}"#,
                "c".repeat(64)
            )
        };
        let paths = ["chexlens.json", "w/m0.pth", "stats/reference.safetensors"];
        let manifest = Manifest::from_json(&text("./stats/reference.safetensors")).unwrap();
        assert_eq!(
            manifest_files(&manifest, paths).unwrap(),
            ["w/m0.pth", "stats/reference.safetensors"]
        );
        assert_eq!(manifest_members(&manifest, paths).unwrap(), ["w/m0.pth"]);
        for missing in [
            "gone.safetensors",
            "../reference.safetensors",
            "https://x.org/r.safetensors",
        ] {
            let manifest = Manifest::from_json(&text(missing)).unwrap();
            assert!(matches!(
                manifest_reference(&manifest, paths),
                Err(HubError::MissingMember(_))
            ));
        }
    }

    #[test]
    fn failures_are_told_apart_without_the_token() {
        let r = repo("o/n@v2");
        assert!(request_failure(&r, 401, Some("RepoNotFound"), false, "set HF_TOKEN").contains("HF_TOKEN"));
        assert!(request_failure(&r, 401, None, true, "").contains("refused the token"));
        assert!(request_failure(&r, 403, None, true, "").contains("no access"));
        assert!(
            request_failure(&r, 401, Some("RepoNotFound"), true, "").contains("not found, or the token has no access")
        );
        assert!(request_failure(&r, 404, Some("RevisionNotFound"), true, "").contains("no revision 'v2'"));
    }
}
