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

/// Serves the Gateway API corpus over HTTP on loopback, as a mirror of the upstream release
/// assets (`--catalog-url`), for `count` connections; returns its base URL.
pub fn serve_corpus(count: usize) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let root = repo().join("../shared/corpus/gateway-api");
    std::thread::spawn(move || {
        for stream in listener.incoming().take(count) {
            let mut stream = stream.unwrap();
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line).unwrap();
            let path = line
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/')
                .to_string();
            let body = std::fs::read(root.join(&path)).ok();
            let (status, body) = match body {
                Some(b) if !path.contains("..") => ("200 OK", b),
                _ => ("404 Not Found", b"not found".to_vec()),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
    });
    url
}

/// `crd` with the `status.storedVersions` a server keeps for it (its storage version), as
/// `kubectl get crd -o yaml` shows an installed CRD.
pub fn with_stored_versions(mut crd: serde_json::Value) -> serde_json::Value {
    let storage: Vec<serde_json::Value> = crd["spec"]["versions"]
        .as_array()
        .expect("spec.versions")
        .iter()
        .filter(|v| v["storage"] == true)
        .map(|v| v["name"].clone())
        .collect();
    crd["status"] = serde_json::json!({ "storedVersions": storage });
    crd
}

/// The CRDs of a YAML stream (other documents skipped), each as installed
/// ([`with_stored_versions`]).
pub fn installed_crds(text: &str) -> Vec<serde_json::Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| <serde_json::Value as serde::Deserialize>::deserialize(d).expect("YAML"))
        .filter(|d| d["kind"] == "CustomResourceDefinition")
        .map(with_stored_versions)
        .collect()
}

/// The item of a JSON plan (or report) named `crd`.
pub fn plan_item<'p>(plan: &'p serde_json::Value, crd: &str) -> &'p serde_json::Value {
    plan["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["crd"] == crd)
        .unwrap_or_else(|| panic!("no item {crd} in the plan"))
}
