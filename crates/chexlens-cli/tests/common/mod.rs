//! Helpers shared by the CLI's integration tests.
#![allow(dead_code)] // each test file uses its own subset

use std::path::PathBuf;
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file of the committed PyTorch reference fixtures.
pub fn fixture(name: &str) -> PathBuf {
    root().join("crates/chexlens-model/tests/fixtures").join(name)
}

pub fn path(name: &str) -> String {
    fixture(name).display().to_string()
}

/// Runs the built `chexlens` binary.
pub fn chexlens(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chexlens"))
        .args(args)
        .output()
        .expect("runs")
}

/// A fresh scratch folder for one test.
pub fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chexlens-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
