//! `--hub` and `deploy` against a local mock of the Hugging Face Hub
//! (tests/mock-hub/mock_hub.py: the Hub's listing and resolve endpoints,
//! redirects to a second "CDN" host, Bearer tokens, Range).

mod common;

use common::{chexlens, fixture, path, root, tempdir};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const TOKEN: &str = "hf_reader_5ecret";
const OTHER_TOKEN: &str = "hf_other_valid";
const MEMBERS: [&str; 3] = ["tiny_m0.pth", "tiny_m1_checkpoint.pth", "tiny_m2.pth"];

/// The mock Hub, stopped when dropped (its standard input closes).
struct MockHub {
    child: Child,
    hub: String,
}

impl Drop for MockHub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The mock's fixture repositories (see tests/mock-hub/mock_hub.py): a
/// private three-member ensemble, a public repo with one member in both
/// formats, one with a manifest, one without weights.
fn start_hub(test: &str) -> (MockHub, PathBuf) {
    let dir = tempdir(&format!("hub-{test}"));
    let mut child = Command::new("python3")
        .arg(root().join("tests/mock-hub/mock_hub.py"))
        .arg("--fixtures")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs the mock Hub");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let hub = line
        .split_whitespace()
        .nth(1)
        .expect("the mock prints its address")
        .to_string();
    (MockHub { child, hub }, dir)
}

impl MockHub {
    fn post(&self, path: &str) {
        ureq::post(format!("{}{path}", self.hub)).send_empty().unwrap();
    }

    fn log(&self) -> Vec<Value> {
        let text = ureq::get(format!("{}/_mock/log", self.hub))
            .call()
            .unwrap()
            .into_body()
            .read_to_string()
            .unwrap();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    fn clear_log(&self) {
        self.post("/_mock/log/clear");
    }

    /// `chexlens ARGS` with the cache in `home` and this Hub as endpoint.
    fn run(&self, home: &Path, token: Option<&str>, args: &[&str]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chexlens"));
        command
            .args(args)
            .env("HF_HOME", home)
            .env("HF_ENDPOINT", &self.hub)
            .env_remove("HF_TOKEN")
            .env_remove("HF_TOKEN_PATH")
            .env_remove("HF_HUB_CACHE")
            .env_remove("HF_HUB_OFFLINE");
        if let Some(token) = token {
            command.env("HF_TOKEN", token);
        }
        command.output().unwrap()
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every label's probability from `predict --json` on one image.
fn probabilities(out: &Output) -> Vec<(String, f64)> {
    assert!(out.status.success(), "{}", stderr(out));
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    line["probabilities"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_f64().unwrap()))
        .collect()
}

fn local_weights(files: &[&str]) -> Vec<(String, f64)> {
    let weights: Vec<String> = files.iter().map(|f| path(f)).collect();
    probabilities(&chexlens(&[
        "predict",
        "--json",
        "--weights",
        &weights.join(","),
        &path("xray_grey.jpg"),
    ]))
}

fn assert_token_never_shown(out: &Output) {
    for text in [&out.stdout, &out.stderr] {
        assert!(!String::from_utf8_lossy(text).contains(TOKEN), "the token was printed");
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                pending.push(p);
            } else {
                found.push(p);
            }
        }
    }
    found
}

#[test]
fn a_private_repository_gives_the_local_files_numbers_and_a_second_run_asks_nothing() {
    let (hub, dir) = start_hub("private");
    let home = dir.join("hf");
    let image = path("xray_grey.jpg");
    let predict = ["predict", "--json", "--hub", "calender/Ensemble_C", image.as_str()];

    let out = hub.run(&home, None, &predict);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("set HF_TOKEN"), "{}", stderr(&out));
    let out = hub.run(&home, Some("hf_not_a_token"), &predict);
    assert!(stderr(&out).contains("refused the token"), "{}", stderr(&out));
    let out = hub.run(&home, Some(OTHER_TOKEN), &predict);
    assert!(stderr(&out).contains("the token has no access"), "{}", stderr(&out));
    assert!(
        files_under(&home).is_empty(),
        "a refused repository leaves nothing in the cache"
    );
    let revision = ["predict", "--hub", "calender/Ensemble_C@v2", image.as_str()];
    let out = hub.run(&home, Some(TOKEN), &revision);
    assert!(stderr(&out).contains("no revision 'v2'"), "{}", stderr(&out));

    hub.clear_log();
    let out = hub.run(&home, Some(TOKEN), &predict);
    assert_token_never_shown(&out);
    assert_eq!(probabilities(&out), local_weights(&MEMBERS));
    let log = hub.log();
    let cdn: Vec<&Value> = log.iter().filter(|r| r["origin"] == "cdn").collect();
    assert_eq!(cdn.len(), 3, "each member downloaded once, from the CDN: {log:?}");
    assert!(
        log.iter().all(|r| r["authorization"] == (r["origin"] == "hub")),
        "the token goes to the Hub's origin only: {log:?}"
    );

    // The layout huggingface_hub writes: refs, blobs named by sha256, links.
    let repo = home.join("hub/models--calender--Ensemble_C");
    let commit = std::fs::read_to_string(repo.join("refs/main")).unwrap();
    for member in MEMBERS {
        let link = repo.join("snapshots").join(&commit).join(member);
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&link).unwrap(), std::fs::read(fixture(member)).unwrap());
    }

    hub.clear_log();
    let again = hub.run(&home, None, &predict);
    assert_eq!(probabilities(&again), probabilities(&out));
    assert!(hub.log().is_empty(), "the second run made requests: {:?}", hub.log());

    // Offline with an empty cache: a plain message.
    let out = {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chexlens"));
        command
            .args(predict)
            .env("HF_HOME", dir.join("empty"))
            .env("HF_HUB_OFFLINE", "1")
            .env("HF_ENDPOINT", &hub.hub);
        command.output().unwrap()
    };
    assert!(stderr(&out).contains("HF_HUB_OFFLINE"), "{}", stderr(&out));
}

#[test]
fn the_token_file_is_read_and_selection_follows_the_rules() {
    let (hub, dir) = start_hub("rules");
    let home = dir.join("hf");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join("token"), format!("{TOKEN}\n")).unwrap();
    let image = path("xray_grey.jpg");
    let run = |repo: &str| hub.run(&home, None, &["predict", "--json", "--hub", repo, image.as_str()]);

    let out = run("calender/Ensemble_C");
    assert_token_never_shown(&out);
    assert_eq!(probabilities(&out), local_weights(&MEMBERS));

    // m.pth and m.safetensors: the .safetensors alone.
    let out = run("open/tiny");
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["members"], 1);
    assert_eq!(probabilities(&out), local_weights(&["tiny_m0.safetensors"]));
    let snapshot_files: Vec<PathBuf> = files_under(&home.join("hub/models--open--tiny/snapshots"));
    assert_eq!(
        snapshot_files.len(),
        1,
        "only the selected file is fetched: {snapshot_files:?}"
    );

    // chexlens.json names the members (in subfolders); others are left alone.
    let out = run("open/manifested");
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["members"], 2);
    assert_eq!(probabilities(&out), local_weights(&["tiny_m2.pth", "tiny_m0.pth"]));
    assert!(
        files_under(&home.join("hub/models--open--manifested"))
            .iter()
            .all(|f| !f.ends_with("unused.pth"))
    );

    let out = run("open/empty");
    assert!(stderr(&out).contains("has no weight files"), "{}", stderr(&out));
    let out = run("open/missing");
    assert!(
        stderr(&out).contains("was not found, or the token has no access"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_interrupted_download_resumes_and_a_corrupted_one_is_not_kept() {
    let (hub, dir) = start_hub("faults");
    let home = dir.join("hf");
    let image = path("xray_grey.jpg");
    let predict = ["predict", "--json", "--hub", "open/tiny", image.as_str()];
    let blobs = home.join("hub/models--open--tiny/blobs");
    let size = std::fs::metadata(fixture("tiny_m0.safetensors")).unwrap().len();

    hub.post("/_mock/fault?path=open/tiny/tiny_m0.safetensors&kind=interrupt");
    let out = hub.run(&home, None, &predict);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("run again to resume"), "{}", stderr(&out));
    let partial: Vec<PathBuf> = files_under(&blobs);
    assert_eq!(partial.len(), 1);
    assert!(partial[0].to_string_lossy().ends_with(".incomplete"));
    let kept = std::fs::metadata(&partial[0]).unwrap().len();
    assert!(kept > 0 && kept < size, "kept {kept} of {size}");
    assert!(!home.join("hub/models--open--tiny/snapshots").exists());

    hub.clear_log();
    let out = hub.run(&home, None, &predict);
    assert_eq!(probabilities(&out), local_weights(&["tiny_m0.safetensors"]));
    let resumed: Vec<Value> = hub.log().into_iter().filter(|r| r["origin"] == "cdn").collect();
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0]["range"], format!("bytes={kept}-"), "the download resumed");

    let fresh = dir.join("hf2");
    hub.post("/_mock/fault?path=open/tiny/tiny_m0.safetensors&kind=corrupt");
    let out = hub.run(&fresh, None, &predict);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("it was not kept"), "{}", stderr(&out));
    let left: Vec<PathBuf> = files_under(&fresh.join("hub/models--open--tiny"));
    assert!(left.is_empty(), "a corrupted download left {left:?}");
    hub.post("/_mock/fault?path=open/tiny/tiny_m0.safetensors&kind=clear");
    let out = hub.run(&fresh, None, &predict);
    assert_eq!(probabilities(&out), local_weights(&["tiny_m0.safetensors"]));
}

#[test]
fn deploy_writes_f16_members_and_a_checked_manifest_and_convert_and_bench_take_hub() {
    let (hub, dir) = start_hub("deploy");
    let home = dir.join("hf");
    let out_dir = dir.join("site");
    let out = hub.run(
        &home,
        Some(TOKEN),
        &[
            "deploy",
            "--hub",
            "calender/Ensemble_C",
            "--out",
            out_dir.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("the page downloads"));
    let manifest_path = out_dir.join("models/manifest.json");
    let manifest: Value = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    let members = manifest["members"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    for member in members {
        let file = out_dir.join("models").join(member["weights"].as_str().unwrap());
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!(
            member["sha256"].as_str().unwrap(),
            chexlens_checkpoints::weights::sha256_hex(&bytes)
        );
        assert!(String::from_utf8_lossy(&bytes[..4096.min(bytes.len())]).contains("\"F16\""));
    }
    let deployed = probabilities(&chexlens(&[
        "predict",
        "--json",
        "--model",
        manifest_path.to_str().unwrap(),
        &path("xray_grey.jpg"),
    ]));
    let original = local_weights(&MEMBERS);
    for ((label, a), (_, b)) in deployed.iter().zip(&original) {
        assert!((a - b).abs() < 5e-3, "{label}: f16 {a} against f32 {b}");
    }

    let converted = dir.join("converted");
    let out = hub.run(
        &home,
        None,
        &["convert", "--hub", "open/tiny", "--output", converted.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(converted.join("tiny_m0.safetensors").is_file());

    let out = hub.run(
        &home,
        None,
        &[
            "bench",
            "--hub",
            "open/tiny",
            "--runs",
            "1",
            "--warmup",
            "0",
            "--size",
            "64",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The Python package's own cache and chexlens' are one: each reads what
/// the other fetched, offline. Needs `huggingface_hub` (scripts/setup --test
/// installs it into .tools/hub-venv); CHEXLENS_REQUIRE_HUB_PYTHON=1, set by
/// scripts/test, makes its absence a failure rather than a skip.
#[test]
fn the_cache_is_shared_with_python_huggingface_hub() {
    let python = std::env::var("CHEXLENS_HUB_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join(".tools/hub-venv/bin/python"));
    let usable = Command::new(&python)
        .args(["-c", "import huggingface_hub"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !usable {
        assert!(
            std::env::var("CHEXLENS_REQUIRE_HUB_PYTHON").is_err(),
            "{} has no huggingface_hub, and CHEXLENS_REQUIRE_HUB_PYTHON is set",
            python.display()
        );
        eprintln!(
            "SKIPPED: the huggingface_hub cache interop test: {} cannot import huggingface_hub",
            python.display()
        );
        return;
    }
    let (hub, dir) = start_hub("python");
    let image = path("xray_grey.jpg");
    let python_run = |home: &Path, offline: bool, code: &str| {
        let mut command = Command::new(&python);
        command
            .args(["-c", code])
            .env("HF_HOME", home)
            .env("HF_ENDPOINT", &hub.hub)
            .env("HF_TOKEN", TOKEN)
            .env("HF_HUB_DISABLE_TELEMETRY", "1");
        if offline {
            command.env("HF_HUB_OFFLINE", "1");
        }
        let out = command.output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };

    // Python fetches; chexlens reads it offline.
    let python_home = dir.join("python-fetched");
    python_run(
        &python_home,
        false,
        "from huggingface_hub import snapshot_download; snapshot_download('calender/Ensemble_C')",
    );
    let out = {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chexlens"));
        command
            .args(["predict", "--json", "--hub", "calender/Ensemble_C", image.as_str()])
            .env("HF_HOME", &python_home)
            .env("HF_HUB_OFFLINE", "1")
            .env_remove("HF_TOKEN");
        command.output().unwrap()
    };
    assert_eq!(probabilities(&out), local_weights(&MEMBERS));

    // chexlens fetches; Python finds every file offline.
    let chexlens_home = dir.join("chexlens-fetched");
    let out = hub.run(
        &chexlens_home,
        Some(TOKEN),
        &["predict", "--json", "--hub", "calender/Ensemble_C", image.as_str()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    for member in MEMBERS {
        let found = python_run(
            &chexlens_home,
            true,
            &format!(
                "from huggingface_hub import hf_hub_download; print(hf_hub_download('calender/Ensemble_C', '{member}'))"
            ),
        );
        assert_eq!(std::fs::read(found).unwrap(), std::fs::read(fixture(member)).unwrap());
    }
}
