//! A stand-in for GitHub's release file hosting: a tiny HTTP/1.1 server on 127.0.0.1 that
//! serves the corpus in place (never copied), or whatever a test's handler answers.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crdguard_fetch::FetchOptions;

/// What the server answers to one request.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Send `Content-Length`; without it the body ends when the connection closes.
    pub content_length: bool,
}

impl Reply {
    pub fn ok(body: Vec<u8>) -> Reply {
        Reply {
            status: 200,
            headers: Vec::new(),
            body,
            content_length: true,
        }
    }

    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: format!("status {status}\n").into_bytes(),
            content_length: true,
        }
    }

    pub fn redirect(location: &str) -> Reply {
        Reply {
            headers: vec![("Location".into(), location.into())],
            ..Reply::status(302)
        }
    }
}

type Handler = dyn Fn(&str) -> Reply + Send + Sync;

pub struct TestServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    paths: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Serves every request with `handler(path)`, one connection at a time.
    pub fn start(handler: impl Fn(&str) -> Reply + Send + Sync + 'static) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let paths = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let thread = {
            let stop = Arc::clone(&stop);
            let paths = Arc::clone(&paths);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    serve(stream, &*handler, &paths);
                }
            })
        };
        TestServer {
            addr,
            stop,
            paths,
            thread: Some(thread),
        }
    }

    /// Serves the Gateway API corpus at `/<tag>/<channel>-install.yaml`, as published.
    pub fn corpus() -> TestServer {
        TestServer::start(|path| match corpus_file_for(path) {
            Some(file) => Reply::ok(std::fs::read(file).unwrap()),
            None => Reply::status(404),
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Paths requested so far.
    pub fn requests(&self) -> Vec<String> {
        self.paths.lock().unwrap().clone()
    }

    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the thread sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn serve(stream: TcpStream, handler: &Handler, paths: &Mutex<Vec<String>>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Headers up to the blank line; their content does not matter here.
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    let Some(path) = request_line.split_whitespace().nth(1) else {
        return;
    };
    paths.lock().unwrap().push(path.to_string());
    let reply = handler(path);
    let mut head = format!("HTTP/1.1 {} Test\r\nConnection: close\r\n", reply.status);
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if reply.content_length {
        head.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
    }
    head.push_str("\r\n");
    let mut stream = stream;
    // The client may hang up early (size cap): write errors are expected then.
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&reply.body);
    let _ = stream.flush();
}

pub fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/gateway-api")
}

/// The corpus file for `/<tag>/<file>`: the as-published copy (`as-released/`, with its
/// non-CRD objects) where there is one. Monthly builds live under `monthly/`.
pub fn corpus_file_for(path: &str) -> Option<PathBuf> {
    let (tag, file) = path.trim_start_matches('/').split_once('/')?;
    if tag.contains("..") || file.contains("..") || file.contains('/') {
        return None;
    }
    let dir = if tag.starts_with("monthly-") {
        corpus_dir().join("monthly").join(tag)
    } else {
        corpus_dir().join(tag)
    };
    [dir.join("as-released").join(file), dir.join(file)]
        .into_iter()
        .find(|p| p.is_file())
}

/// The published file of a release, read in place.
pub fn corpus_text(tag: &str, channel: &str) -> String {
    let file = corpus_file_for(&format!("/{tag}/{channel}-install.yaml"))
        .unwrap_or_else(|| panic!("no corpus file for {tag}/{channel}"));
    std::fs::read_to_string(file).unwrap()
}

/// Options for a test: this server, a fresh cache directory, fast retries.
pub fn options(base_url: &str, cache: &tempfile::TempDir) -> FetchOptions {
    FetchOptions {
        base_url: base_url.to_string(),
        cache_dir: Some(cache.path().to_path_buf()),
        retry: crdguard_core::retry::RetryPolicy {
            first_delay: Duration::from_millis(10),
            ..crdguard_core::retry::RetryPolicy::DOWNLOAD
        },
        total_timeout: Duration::from_secs(20),
        ..FetchOptions::default()
    }
}

/// A copy of `text` with one description in the CRD `crd` changed (a plain one-line scalar,
/// so the YAML stays valid and only the content differs).
pub fn tamper(text: &str, crd: &str) -> String {
    let marker = format!("name: {crd}\n");
    let start = text
        .find(&marker)
        .unwrap_or_else(|| panic!("{crd} not found"));
    let mut offset = start;
    for line in text[start..].split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(value) = trimmed.strip_prefix("description: ")
            && value.starts_with(|c: char| c.is_ascii_alphabetic())
            && !value.trim_end().ends_with(['"', '\''])
        {
            let end = offset + line.trim_end_matches('\n').len();
            let mut out = String::with_capacity(text.len() + 16);
            out.push_str(&text[..end]);
            out.push_str(" (tampered)");
            out.push_str(&text[end..]);
            return out;
        }
        offset += line.len();
    }
    panic!("no plain description in {crd}")
}

/// A port on 127.0.0.1 with nothing listening (bound, then released).
pub fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}
