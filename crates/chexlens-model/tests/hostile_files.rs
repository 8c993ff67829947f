//! Every hostile file from tools/hostile/make_hostile.py, and every crash a
//! fuzz target or the mutation run found (tests/regressions), read through
//! the entry point a user's file takes: each is refused with its own plain
//! message, without a panic, and within its memory and time.

use chexlens_checkpoints::manifest::Manifest;
use chexlens_images::input::decode_xray;
use std::path::{Path, PathBuf};

#[derive(serde::Deserialize)]
struct Expected {
    kind: String,
    refused_with: String,
    // Regressions also say what they did before the fix ("found"): for people.
}

fn dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests").join(name)
}

/// The message a user sees for `bytes` read as `kind`, or `None` if accepted.
fn refusal(kind: &str, bytes: &[u8], name: &str) -> Option<String> {
    match kind {
        "weights" => chexlens_checkpoints::architecture::read_weights(bytes, name, None)
            .err()
            .map(|e| e.to_string()),
        "manifest" => match std::str::from_utf8(bytes) {
            Ok(text) => Manifest::from_json(text).err().map(|e| e.to_string()),
            Err(_) => Some("not UTF-8".into()),
        },
        "image" => decode_xray(bytes).err().map(|e| e.to_string()),
        other => panic!("unknown kind '{other}'"),
    }
}

/// What a message must never show a user.
fn assert_plain(message: &str, name: &str) {
    for leak in ["panicked", "backtrace", ".rs:", "Some(", "Error {", "kind:", "/src/"] {
        assert!(!message.contains(leak), "{name}: the message shows '{leak}': {message}");
    }
}

fn run_corpus(folder: &str) -> usize {
    let root = dir(folder);
    let expected: std::collections::BTreeMap<String, Expected> =
        serde_json::from_str(&std::fs::read_to_string(root.join("expected.json")).unwrap()).unwrap();
    for (name, want) in &expected {
        let bytes = std::fs::read(root.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let message = refusal(&want.kind, &bytes, name).unwrap_or_else(|| panic!("{name} was accepted"));
        assert!(
            message.to_lowercase().contains(&want.refused_with.to_lowercase()),
            "{name}: expected a refusal mentioning '{}', got: {message}",
            want.refused_with
        );
        assert_plain(&message, name);
    }
    // Every file in the folder is listed, so none is silently skipped.
    let on_disk = std::fs::read_dir(&root).unwrap().count() - 1;
    assert_eq!(
        on_disk,
        expected.len(),
        "{folder}: files without an entry in expected.json"
    );
    expected.len()
}

#[test]
fn hostile_files_are_refused_plainly() {
    assert!(run_corpus("hostile") >= 30);
}

#[test]
fn fuzz_and_mutation_findings_stay_fixed() {
    assert!(run_corpus("regressions") >= 10);
}
