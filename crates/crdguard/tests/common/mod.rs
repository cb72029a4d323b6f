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
