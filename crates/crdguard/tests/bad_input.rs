//! The bad-input corpus: one directory per case under `tests/bad-input/`, each with its input
//! files (or the name of a generator below, for inputs that are big or binary) and an `expect`
//! file:
//!
//! ```text
//! # comments
//! args: plan {dir}/input.yaml      (the default; {dir} is the case's copy in a temp dir)
//! env: NAME=value                  (optional, repeatable)
//! generate: alias-bomb             (optional: a generator of this file writes the inputs)
//! stderr: input.yaml, document 1   (one or more fragments stderr must hold)
//! ```
//!
//! Every case must exit 2 with every fragment on stderr, on one screen, without a panic and
//! without anything on stdout. Unless it is a `--snapshot` case (apply is live only), it then
//! runs again as `apply --kubeconfig K`, K pointing at a
//! listener of this test that must never see a connection: crdguard refuses bad input before it
//! contacts the cluster. Nothing may be written either: the case's whole temp dir (inputs,
//! working directory, HOME, TMPDIR, the files outside that archive links point to) is listed
//! before and after, and must not change. PATH holds no helm, so charts are read by crdguard's
//! own archive reader (in memory, never extracted).
//!
//! `CRDGUARD_BAD_INPUT_CASE=tar cargo test -p crdguard --test bad_input -- --nocapture` runs the
//! cases whose name holds `tar` and shows the first line of each message.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected input

mod common;

use common::*;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

const MIN_CASES: usize = 35;
/// The committed corpus stays small: big and binary inputs come from generators.
const MAX_COMMITTED_BYTES: u64 = 1024 * 1024;
const MAX_STDERR_LINES: usize = 25;
const MAX_STDERR_BYTES: usize = 4096;

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names:
    kind: Widget
    listKind: WidgetList
    plural: widgets
    singular: widget
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size:
                type: integer
";

const CHART_YAML: &[u8] = b"apiVersion: v2\nname: c\nversion: 0.1.0\n";

struct Case {
    name: String,
    source: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    generate: Option<String>,
    stderr: Vec<String>,
}

fn corpus_dir() -> PathBuf {
    repo().join("crates/crdguard/tests/bad-input")
}

fn load_cases() -> Vec<Case> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.into_iter().map(|dir| parse_case(&dir)).collect()
}

fn parse_case(dir: &Path) -> Case {
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    let text = std::fs::read_to_string(dir.join("expect"))
        .unwrap_or_else(|e| panic!("{name}: cannot read expect: {e}"));
    let mut case = Case {
        name: name.clone(),
        source: dir.to_path_buf(),
        args: vec!["plan".into(), "{dir}/input.yaml".into()],
        env: Vec::new(),
        generate: None,
        stderr: Vec::new(),
    };
    for line in text.lines() {
        let line = line.trim_end();
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("{name}: expect line without `key: value`: {line:?}"));
        match key {
            "args" => case.args = value.split_whitespace().map(str::to_string).collect(),
            "env" => {
                let (k, v) = value
                    .split_once('=')
                    .unwrap_or_else(|| panic!("{name}: env without `=`: {line:?}"));
                case.env.push((k.to_string(), v.to_string()));
            }
            "generate" => case.generate = Some(value.to_string()),
            "stderr" => case.stderr.push(value.to_string()),
            _ => panic!("{name}: unknown expect key {key:?}"),
        }
    }
    assert!(!case.stderr.is_empty(), "{name}: no `stderr:` expectation");
    assert_eq!(
        case.args.first().map(String::as_str),
        Some("plan"),
        "{name}"
    );
    case
}

/// The case's temp dir: `case/` (its inputs), `cwd/a/b/c` (where crdguard runs, so relative
/// `../` paths land in here), `home`, `tmp`, `cache`, `bin` (an empty PATH: no helm, so charts
/// are read by crdguard's own archive reader), `outside/` (targets of archive links).
struct Work {
    _temp: tempfile::TempDir,
    root: PathBuf,
    case: PathBuf,
    cwd: PathBuf,
}

impl Work {
    fn new(case: &Case) -> Work {
        let temp = tempfile::Builder::new()
            .prefix("crdguard-bad-")
            .tempdir()
            .unwrap();
        let root = temp.path().to_path_buf();
        let work = Work {
            case: root.join("case"),
            cwd: root.join("cwd/a/b/c"),
            root,
            _temp: temp,
        };
        for dir in [
            "case",
            "cwd/a/b/c",
            "home",
            "tmp",
            "cache",
            "bin",
            "outside",
        ] {
            std::fs::create_dir_all(work.root.join(dir)).unwrap();
        }
        copy_tree(&case.source, &work.case);
        // A valid CRD outside the inputs: following a link to it would change the outcome.
        std::fs::write(work.outside_crd(), CRD).unwrap();
        work
    }

    fn outside_crd(&self) -> PathBuf {
        self.root.join("outside/widgets.yaml")
    }
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else if entry.file_name() != "expect" {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every path below `root` with its size and modification time.
fn listing(root: &Path) -> BTreeMap<PathBuf, (u64, Option<SystemTime>)> {
    let mut all = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let meta = std::fs::symlink_metadata(entry.path()).unwrap();
            if meta.is_dir() {
                pending.push(entry.path());
            }
            all.insert(entry.path(), (meta.len(), meta.modified().ok()));
        }
    }
    all
}

fn kubeconfig(path: &Path, port: u16) {
    std::fs::write(
        path,
        format!(
            "apiVersion: v1
kind: Config
clusters:
- name: trap
  cluster:
    server: https://127.0.0.1:{port}
    insecure-skip-tls-verify: true
users:
- name: trap
  user:
    token: not-a-real-token
contexts:
- name: trap
  context:
    cluster: trap
    user: trap
current-context: trap
"
        ),
    )
    .unwrap();
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(case: &Case, work: &Work, args: &[String], kubeconfig: &Path) -> Run {
    let mut command = assert_cmd::Command::new(env!("CARGO_BIN_EXE_crdguard"));
    command
        .args(args)
        .current_dir(&work.cwd)
        .env("KUBECONFIG", kubeconfig)
        .env("PATH", work.root.join("bin"))
        .env("HOME", work.root.join("home"))
        .env("XDG_CACHE_HOME", work.root.join("cache"))
        .env("TMPDIR", work.root.join("tmp"))
        .env_remove("HELM_BIN")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .env_remove("CRDGUARD_CATALOG_URL")
        .env_remove("CRDGUARD_MAX_INPUT_BYTES")
        .env_remove("CRDGUARD_MAX_DOCUMENT_BYTES")
        .env_remove("CRDGUARD_LOG")
        .timeout(Duration::from_secs(60));
    for (key, value) in &case.env {
        command.env(key, value);
    }
    let out = command.output().unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

/// What is wrong with one run, if anything.
fn problems(case: &Case, work: &Work, run: &Run) -> Vec<String> {
    let mut found = Vec::new();
    if run.code != Some(2) {
        found.push(format!("exit code {:?}, expected 2", run.code));
    }
    for fragment in &case.stderr {
        let fragment = fragment.replace("{dir}", &work.case.display().to_string());
        if !run.stderr.contains(&fragment) {
            found.push(format!("stderr lacks {fragment:?}"));
        }
    }
    let lines = run.stderr.lines().count();
    if lines > MAX_STDERR_LINES || run.stderr.len() > MAX_STDERR_BYTES {
        found.push(format!(
            "stderr is not one screen: {lines} lines, {} bytes",
            run.stderr.len()
        ));
    }
    if let Some(c) = run
        .stderr
        .chars()
        .find(|c| c.is_control() && *c != '\n' && *c != '\t')
    {
        found.push(format!("stderr holds the control character {c:?}"));
    }
    for panic_text in ["panicked at", "RUST_BACKTRACE"] {
        if run.stderr.contains(panic_text) {
            found.push(format!("stderr holds {panic_text:?}"));
        }
    }
    if !run.stdout.trim().is_empty() {
        found.push(format!(
            "stdout is not empty: {:?}",
            run.stdout.chars().take(200).collect::<String>()
        ));
    }
    if !found.is_empty() {
        let shown: String = run.stderr.chars().take(1500).collect();
        found.push(format!("stderr was: {shown}"));
    }
    found
}

/// Runs one case as `plan`, then as `apply`; returns what went wrong, and the first line of
/// the plan's stderr (to review messages with `--nocapture`).
fn check_case(case: &Case) -> (Vec<String>, String) {
    let work = Work::new(case);
    if let Some(Err(e)) = case.generate.as_deref().map(|g| generate(g, &work)) {
        return (vec![e], String::new());
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let kubeconfig_path = work.root.join("kubeconfig");
    kubeconfig(&kubeconfig_path, listener.local_addr().unwrap().port());
    let dir = work.case.display().to_string();
    let plan_args: Vec<String> = case.args.iter().map(|a| a.replace("{dir}", &dir)).collect();
    let mut apply_args = plan_args.clone();
    apply_args[0] = "apply".into();
    apply_args.push("--kubeconfig".into());
    apply_args.push(kubeconfig_path.display().to_string());

    let before = listing(&work.root);
    let mut failures = Vec::new();
    let mut shown = None;
    // A snapshot is plan's offline input; apply is live only and has no --snapshot.
    let legs: &[(&str, &Vec<String>)] = if plan_args.iter().any(|a| a == "--snapshot") {
        &[("plan", &plan_args)]
    } else {
        &[("plan", &plan_args), ("apply", &apply_args)]
    };
    for &(label, args) in legs {
        let result = run(case, &work, args, &kubeconfig_path);
        shown.get_or_insert_with(|| {
            let first = result.stderr.lines().next().unwrap_or_default();
            first.replace(&dir, "{dir}").chars().take(300).collect()
        });
        failures.extend(
            problems(case, &work, &result)
                .into_iter()
                .map(|p| format!("{label}: {p}")),
        );
    }
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Ok((_, peer)) => failures.push(format!(
            "crdguard contacted the cluster (connection from {peer})"
        )),
        Err(e) => failures.push(format!("accept failed: {e}")),
    }
    let after = listing(&work.root);
    if before != after {
        let changed: Vec<String> = after
            .iter()
            .filter(|(path, meta)| before.get(*path) != Some(meta))
            .map(|(path, _)| path.display().to_string())
            .chain(
                before
                    .keys()
                    .filter(|p| !after.contains_key(*p))
                    .map(|p| format!("{} (removed)", p.display())),
            )
            .collect();
        failures.push(format!("files were written: {changed:?}"));
    }
    (failures, shown.unwrap_or_default())
}

#[test]
fn every_bad_input_exits_2_with_a_precise_message_and_writes_nothing() {
    let cases = load_cases();
    assert!(
        cases.len() >= MIN_CASES,
        "{} cases, at least {MIN_CASES} wanted",
        cases.len()
    );
    let committed: u64 = listing(&corpus_dir())
        .iter()
        .filter(|(path, _)| path.is_file())
        .map(|(_, (len, _))| len)
        .sum();
    assert!(
        committed < MAX_COMMITTED_BYTES,
        "the committed corpus is {committed} bytes; generate big inputs instead"
    );
    let started = Instant::now();
    // CRDGUARD_BAD_INPUT_CASE=tar runs only the cases whose name holds `tar`.
    let only = std::env::var("CRDGUARD_BAD_INPUT_CASE").unwrap_or_default();
    let mut report = Vec::new();
    for case in cases.iter().filter(|c| c.name.contains(&only)) {
        let case_started = Instant::now();
        let (failures, shown) = check_case(case);
        eprintln!(
            "{:<36} {:>5.2}s {:<6} {shown}",
            case.name,
            case_started.elapsed().as_secs_f64(),
            if failures.is_empty() { "ok" } else { "FAILED" }
        );
        for failure in failures {
            report.push(format!("{}: {failure}", case.name));
        }
    }
    eprintln!(
        "{} cases in {:.1}s",
        cases.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(report.is_empty(), "\n{}", report.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Generators: inputs too big or too binary to commit, written into the case's temp dir.

fn generate(name: &str, work: &Work) -> Result<(), String> {
    let case = &work.case;
    let crd = CRD.as_bytes();
    match name {
        "latin1" => {
            let text = CRD.replace(
                "type: integer",
                "type: integer\n                description: caf\u{0}",
            );
            // `é` in Latin-1 is the single byte 0xE9, which is not UTF-8.
            let bytes: Vec<u8> = text
                .bytes()
                .map(|b| if b == 0 { 0xE9 } else { b })
                .collect();
            write(&case.join("input.yaml"), &bytes);
        }
        "utf16" => {
            let mut bytes = vec![0xFF, 0xFE];
            bytes.extend(CRD.encode_utf16().flat_map(u16::to_le_bytes));
            write(&case.join("input.yaml"), &bytes);
        }
        "alias-bomb" => {
            let mut bomb = String::from(
                "apiVersion: v1\nkind: List\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
            );
            let mut prev = 'a';
            for name in ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'] {
                let refs = vec![format!("*{prev}"); 9].join(",");
                bomb.push_str(&format!("{name}: &{name} [{refs}]\n"));
                prev = name;
            }
            write(&case.join("input.yaml"), bomb.as_bytes());
        }
        "huge-document" => {
            let mut file = buffered(&case.join("input.yaml"));
            file.write_all(b"apiVersion: v1\nkind: ConfigMap\ndata:\n  blob: |\n")
                .unwrap();
            let line = format!("    {}\n", "x".repeat(1020));
            for _ in 0..(200 * 1024) {
                file.write_all(line.as_bytes()).unwrap();
            }
            file.flush().unwrap();
        }
        "huge-string" => {
            let mut file = buffered(&case.join("input.yaml"));
            let (head, tail) = CRD.split_at(CRD.find("spec:").unwrap());
            file.write_all(head.as_bytes()).unwrap();
            file.write_all(b"  annotations:\n    blob: \"").unwrap();
            let chunk = "x".repeat(1024 * 1024);
            for _ in 0..150 {
                file.write_all(chunk.as_bytes()).unwrap();
            }
            file.write_all(b"\"\n").unwrap();
            file.write_all(tail.as_bytes()).unwrap();
            file.flush().unwrap();
        }
        "long-name" => {
            let name = "w".repeat(10 * 1024 * 1024);
            let text = CRD.replacen("name: widgets.example.com", &format!("name: {name}"), 1);
            write(&case.join("input.yaml"), text.as_bytes());
        }
        "deep-brackets" => write(&case.join("input.yaml"), "[".repeat(100_000).as_bytes()),
        "deep-json-objects" => {
            let text = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
            write(&case.join("input.json"), text.as_bytes());
        }
        "policy-deep-nesting" => {
            let text = format!("spec: {}", "{\"a\": ".repeat(100_000));
            write(&case.join("policy.yaml"), text.as_bytes());
        }
        "deep-block-mappings" => {
            let mut text = String::new();
            for depth in 0..5000 {
                text.push_str(&"  ".repeat(depth));
                text.push_str("a:\n");
            }
            write(&case.join("input.yaml"), text.as_bytes());
        }
        "tar-parent-traversal" => write_tgz(
            &case.join("chart.tgz"),
            &[
                Member::File("c/Chart.yaml", CHART_YAML),
                Member::File("c/crds/../../../../escaped/x.yaml", crd),
            ],
        ),
        "tar-absolute-path" => {
            let path = format!("{}/escaped/c/crds/x.yaml", work.root.display());
            write_tgz(
                &case.join("chart.tgz"),
                &[
                    Member::File("c/Chart.yaml", CHART_YAML),
                    Member::File(&path, crd),
                ],
            );
        }
        "tar-symlink" => write_tgz(
            &case.join("chart.tgz"),
            &[
                Member::File("c/Chart.yaml", CHART_YAML),
                Member::Symlink("c/crds/x.yaml", "../../../../outside/widgets.yaml"),
            ],
        ),
        "tar-hardlink" => {
            let target = work.outside_crd().display().to_string();
            write_tgz(
                &case.join("chart.tgz"),
                &[
                    Member::File("c/Chart.yaml", CHART_YAML),
                    Member::Hardlink("c/crds/x.yaml", &target),
                ],
            );
        }
        "tar-zeros-600mib" => write_tgz(
            &case.join("chart.tgz"),
            &[
                Member::File("c/Chart.yaml", CHART_YAML),
                Member::File("c/crds/x.yaml", crd),
                Member::Zeros("c/templates/a.bin", 300 << 20),
                Member::Zeros("c/templates/b.bin", 300 << 20),
            ],
        ),
        "tar-nested-total" => {
            let padding = "# padding\n".repeat(60_000); // 600 KB of comments
            let sub = tgz(&[
                Member::File(
                    "sub/Chart.yaml",
                    b"apiVersion: v2\nname: sub\nversion: 0.1.0\n",
                ),
                Member::File("sub/crds/big.yaml", padding.as_bytes()),
            ]);
            write_tgz(
                &case.join("chart.tgz"),
                &[
                    Member::File("c/Chart.yaml", CHART_YAML),
                    Member::File("c/crds/big.yaml", padding.as_bytes()),
                    Member::File("c/charts/sub.tgz", &sub),
                ],
            );
        }
        "tar-long-name-bomb" => write_tgz(
            &case.join("chart.tgz"),
            &[
                Member::LongNameZeros(20 << 20),
                Member::File("c/Chart.yaml", CHART_YAML),
            ],
        ),
        "tar-nested-too-deep" => {
            let mut inner = tgz(&[
                Member::File("c6/Chart.yaml", CHART_YAML),
                Member::File("c6/crds/x.yaml", crd),
            ]);
            for level in (0..6).rev() {
                let chart = format!("c{level}/Chart.yaml");
                let sub = format!("c{level}/charts/c{}.tgz", level + 1);
                inner = tgz(&[Member::File(&chart, CHART_YAML), Member::File(&sub, &inner)]);
            }
            write(&case.join("chart.tgz"), &inner);
        }
        "tar-truncated" => {
            let whole = tgz(&[
                Member::File("c/Chart.yaml", CHART_YAML),
                Member::File("c/crds/x.yaml", CRD.repeat(50).as_bytes()),
            ]);
            write(&case.join("chart.tgz"), &whole[..whole.len() / 2]);
        }
        "tar-empty" => write_tgz(&case.join("chart.tgz"), &[]),
        "tar-escape-in-name" => write_tgz(
            &case.join("chart.tgz"),
            &[
                Member::File("c/Chart.yaml", CHART_YAML),
                Member::File("c/crds/\u{1b}[2Jevil.yaml", b"a: [unclosed\n"),
            ],
        ),
        "gzip-not-tar" => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all("this is not a tar archive\n".repeat(40).as_bytes())
                .unwrap();
            write(&case.join("chart.tgz"), &gz.finish().unwrap());
        }
        "tar-without-chart-yaml" => write_tgz(
            &case.join("chart.tgz"),
            &[Member::File("c/crds/x.yaml", crd)],
        ),
        other => return Err(format!("unknown generator {other:?}")),
    }
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

fn buffered(path: &Path) -> std::io::BufWriter<std::fs::File> {
    std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap())
}

enum Member<'a> {
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    /// A member of this many zero bytes, streamed (never held in memory).
    Zeros(&'a str, u64),
    /// A GNU long-name header (`././@LongLink`) of this many zero bytes.
    LongNameZeros(u64),
}

/// A header with the name written as raw bytes: `tar` refuses `..` and absolute paths, which
/// is exactly what these archives need.
fn header(path: &str, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    let name = &mut header.as_gnu_mut().unwrap().name;
    assert!(path.len() < name.len(), "member name too long: {path}");
    name[..path.len()].copy_from_slice(path.as_bytes());
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(1_700_000_000);
    header
}

fn tgz(members: &[Member]) -> Vec<u8> {
    let mut out = Vec::new();
    append_members(&mut out, members);
    out
}

fn write_tgz(path: &Path, members: &[Member]) {
    let file = buffered(path);
    append_members(file, members);
}

fn append_members<W: Write>(out: W, members: &[Member]) {
    let gz = flate2::write::GzEncoder::new(out, flate2::Compression::best());
    let mut builder = tar::Builder::new(gz);
    for member in members {
        let (mut header, data): (tar::Header, Box<dyn Read>) = match member {
            Member::File(path, data) => (
                header(path, tar::EntryType::Regular, data.len() as u64),
                Box::new(*data),
            ),
            Member::Symlink(path, target) | Member::Hardlink(path, target) => {
                let kind = if matches!(member, Member::Symlink(..)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                };
                let mut h = header(path, kind, 0);
                h.set_link_name(target).unwrap();
                (h, Box::new(std::io::empty()))
            }
            Member::Zeros(path, size) => (
                header(path, tar::EntryType::Regular, *size),
                Box::new(std::io::repeat(0).take(*size)),
            ),
            Member::LongNameZeros(size) => (
                header("././@LongLink", tar::EntryType::GNULongName, *size),
                Box::new(std::io::repeat(0).take(*size)),
            ),
        };
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    builder
        .into_inner()
        .unwrap()
        .finish()
        .unwrap()
        .flush()
        .unwrap();
}
