//! Paths and tools shared by the CLI, Helm and live tests.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `../shared` beside the repository (read-only inputs).
pub fn shared() -> PathBuf {
    repo().join("../shared")
}

/// A file of the real corpus, read in place.
pub fn corpus(relative: &str) -> String {
    shared().join("corpus").join(relative).display().to_string()
}

/// The real helm binary, installed once per test binary into the cache by the shared script.
pub fn helm_bin() -> String {
    static HELM: OnceLock<String> = OnceLock::new();
    HELM.get_or_init(|| {
        let out = Command::new(shared().join("tools/install-helm.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run install-helm.sh");
        assert!(out.status.success(), "install-helm.sh failed");
        format!("{}/helm", String::from_utf8_lossy(&out.stdout).trim())
    })
    .clone()
}
