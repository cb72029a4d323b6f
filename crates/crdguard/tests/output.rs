//! Output for people and for pull requests (SPEC §3 v2, human output): golden tables and
//! Markdown comments of real corpus plans (small, medium, huge), the comment's size limit and
//! its rendering on a GitHub-flavoured Markdown parser, `-o yaml` = `-o json`, colour rules,
//! fitting to a terminal's width, `--details`, and the next step of a blocked plan.
//!
//! Goldens live in `tests/golden/`; `CRDGUARD_BLESS=1 cargo test -p crdguard --test output`
//! rewrites them after an intended change (review the diff).

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected input

mod common;

use common::*;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

const LIMIT: usize = 60_000;

fn run(args: &[String], env: &[(&str, &str)]) -> Output {
    let mut command = Command::cargo_bin("crdguard").unwrap();
    command
        .current_dir(scratch())
        .args(args)
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("CLICOLOR")
        .timeout(Duration::from_secs(300));
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn text(out: &Output) -> String {
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn with(args: &[String], more: &[&str]) -> Vec<String> {
    args.iter()
        .cloned()
        .chain(more.iter().map(|s| s.to_string()))
        .collect()
}

/// A directory that lives as long as the test binary, and the working directory of every run:
/// scenarios name their inputs relative to it (`repo/…`, `shared/…`, links to the checkout and
/// `../shared`), so reports hold the same paths on every machine. A long absolute path would
/// otherwise change where a long Markdown cell is cut, and the goldens with it.
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("crdguard-output-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(std::fs::canonicalize(repo()).unwrap(), dir.join("repo"))
            .unwrap();
        std::os::unix::fs::symlink(std::fs::canonicalize(shared()).unwrap(), dir.join("shared"))
            .unwrap();
        dir
    })
}

/// Paths that differ between machines, replaced in goldens.
fn normalize(text: &str) -> String {
    let shared_real = std::fs::canonicalize(shared()).unwrap();
    let repo_real = std::fs::canonicalize(repo()).unwrap();
    text.replace(&shared().display().to_string(), "<shared>")
        .replace(&shared_real.display().to_string(), "<shared>")
        .replace(&repo().display().to_string(), "<repo>")
        .replace(&repo_real.display().to_string(), "<repo>")
        .replace(&scratch().display().to_string(), "<scratch>")
}

/// The README's example: a chart's own CRDs and an older Gateway API over a newer cluster.
fn small() -> Vec<String> {
    vec![
        "plan".into(),
        "repo/examples/acme-gateway/crds".into(),
        "--snapshot".into(),
        "repo/examples/cluster-snapshot.yaml".into(),
    ]
}

/// A migration: Envoy Gateway v1.9.0's chart (rendered by the real helm) onto a cluster that
/// runs Gateway API v1.3.0 experimental (upstream's CRDs of that release).
fn medium() -> Vec<String> {
    vec![
        "plan".into(),
        "--chart".into(),
        "shared/corpus/envoy-gateway/v1.9.0/charts/gateway-helm".into(),
        "--helm".into(),
        helm_bin(),
        "--snapshot".into(),
        "shared/corpus/gateway-api/v1.3.0/experimental-install.yaml".into(),
        "--server-version".into(),
        "v1.33.1".into(),
    ]
}

/// The biggest plan the corpus makes: upjet-aws v2.5.0 → v2.6.0, 2,043 CRDs.
fn huge() -> Vec<String> {
    static ARGS: OnceLock<Vec<String>> = OnceLock::new();
    ARGS.get_or_init(|| {
        let unpack = |tag: &str| {
            let dir = scratch().join(tag);
            std::fs::create_dir_all(&dir).unwrap();
            let status = std::process::Command::new("tar")
                .arg("-xJf")
                .arg(corpus(&format!("large/upjet-aws-{tag}.tar.xz")))
                .arg("-C")
                .arg(&dir)
                .status()
                .unwrap();
            assert!(status.success(), "tar failed");
            PathBuf::from(tag).join(tag).join("package/crds")
        };
        let old = unpack("v2.5.0");
        let new = unpack("v2.6.0");
        // The installed set as one multi-document stream, as `kubectl get crd -o yaml` gives.
        let mut files: Vec<PathBuf> = std::fs::read_dir(scratch().join(&old))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let mut snapshot = String::new();
        for file in files {
            snapshot.push_str("---\n");
            snapshot.push_str(&std::fs::read_to_string(file).unwrap());
            snapshot.push('\n');
        }
        let snapshot_path = PathBuf::from("upjet-v2.5.0.yaml");
        std::fs::write(scratch().join(&snapshot_path), snapshot).unwrap();
        vec![
            "plan".into(),
            new.display().to_string(),
            "--snapshot".into(),
            snapshot_path.display().to_string(),
            "--server-version".into(),
            "v1.33.1".into(),
        ]
    })
    .clone()
}

fn golden(name: &str, actual: &str) {
    let path = repo().join("crates/crdguard/tests/golden").join(name);
    let actual = normalize(actual);
    if std::env::var_os("CRDGUARD_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with CRDGUARD_BLESS=1 to write it",
            path.display()
        )
    });
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the output at line {}:\n  golden: {:?}\n  actual: {:?}\n\
             (CRDGUARD_BLESS=1 rewrites goldens after an intended change)",
            path.display(),
            first + 1,
            expected.lines().nth(first),
            actual.lines().nth(first)
        );
    }
}

/// What GitHub's renderer would make of a comment, as facts the tests check.
struct Rendered {
    /// Emphasis, strong or strikethrough nodes inside table cells (must be none).
    emphasis_in_cells: Vec<String>,
    /// Strong nodes anywhere: only the verdict is bold.
    strong: Vec<String>,
    /// Tables as lists of rows of cell texts, in document order.
    tables: Vec<Vec<Vec<String>>>,
    /// Top-level blocks in order: `table`, `paragraph:<text>`, `heading:<text>`, `html:<text>`.
    blocks: Vec<String>,
    /// Code span contents.
    code: Vec<String>,
}

fn render(markdown: &str) -> Rendered {
    use comrak::nodes::{AstNode, NodeValue};
    let arena = comrak::Arena::new();
    let mut options = comrak::Options::default();
    options.extension.table = true;
    options.extension.strikethrough = true;
    options.extension.autolink = true;
    options.extension.tagfilter = true;
    let root = comrak::parse_document(&arena, markdown, &options);

    fn plain<'a>(node: &'a AstNode<'a>) -> String {
        let mut out = String::new();
        for n in node.descendants() {
            match &n.data.borrow().value {
                NodeValue::Text(t) => out.push_str(t),
                NodeValue::Code(c) => out.push_str(&c.literal),
                _ => {}
            }
        }
        out
    }

    let mut rendered = Rendered {
        emphasis_in_cells: Vec::new(),
        strong: Vec::new(),
        tables: Vec::new(),
        blocks: Vec::new(),
        code: Vec::new(),
    };
    for node in root.descendants() {
        let value = node.data.borrow().value.clone();
        match value {
            NodeValue::Emph | NodeValue::Strong | NodeValue::Strikethrough => {
                let in_cell = node
                    .ancestors()
                    .any(|a| matches!(a.data.borrow().value, NodeValue::TableCell));
                if in_cell {
                    rendered.emphasis_in_cells.push(plain(node));
                }
                if matches!(value, NodeValue::Strong) {
                    rendered.strong.push(plain(node));
                }
            }
            NodeValue::Code(c) => rendered.code.push(c.literal.clone()),
            NodeValue::Table(_) => {
                let rows = node
                    .children()
                    .map(|row| row.children().map(plain).collect())
                    .collect();
                rendered.tables.push(rows);
            }
            _ => {}
        }
    }
    for block in root.children() {
        let label = match &block.data.borrow().value {
            NodeValue::Table(_) => "table".to_string(),
            NodeValue::Paragraph => format!("paragraph:{}", plain(block)),
            NodeValue::Heading(_) => format!("heading:{}", plain(block)),
            NodeValue::HtmlBlock(h) => format!("html:{}", h.literal.trim()),
            other => format!("{other:?}"),
        };
        rendered.blocks.push(label);
    }
    rendered
}

/// Every comment: within the limit; no emphasis in any cell; the summary table first and the
/// verdict on a line of its own right after it; only the verdict bold; `<details>` closed;
/// and, when they fit, every stopping item named in a code span.
fn check_comment(name: &str, markdown: &str, plan: &Value) {
    let chars = markdown.chars().count();
    assert!(chars <= LIMIT, "{name}: {chars} characters");
    let r = render(markdown);
    assert!(
        r.emphasis_in_cells.is_empty(),
        "{name}: emphasis in table cells: {:?}",
        r.emphasis_in_cells
    );
    let first_table = r.blocks.iter().position(|b| b == "table").unwrap();
    let summary = &r.tables[0];
    assert_eq!(
        summary[0],
        [
            "create",
            "upgrade",
            "unchanged",
            "keep",
            "conflict",
            "blocked"
        ],
        "{name}"
    );
    for (i, key) in summary[0].iter().enumerate() {
        assert_eq!(
            summary[1][i],
            plan["summary"][key.as_str()].to_string(),
            "{name}: summary {key}"
        );
    }
    let verdict = &r.blocks[first_table + 1];
    let expected = if plan["verdict"] == "ok" {
        "paragraph:Verdict: ok"
    } else {
        "paragraph:Verdict: BLOCKED"
    };
    assert!(verdict.starts_with(expected), "{name}: {verdict}");
    assert_eq!(r.strong.len(), 1, "{name}: bold text {:?}", r.strong);
    let opened = r
        .blocks
        .iter()
        .filter(|b| b.starts_with("html:<details>"))
        .count();
    let closed = r.blocks.iter().filter(|b| *b == "html:</details>").count();
    assert_eq!(opened, closed, "{name}: {:?}", r.blocks);
    let stopping: Vec<&str> = plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| matches!(i["action"].as_str(), Some("blocked" | "conflict")))
        .map(|i| i["crd"].as_str().unwrap())
        .collect();
    if stopping.len() <= 100 {
        for crd in stopping {
            assert!(
                r.code.iter().any(|c| c == crd),
                "{name}: the stopping item {crd} is not named"
            );
        }
    }
}

fn plan_json(args: &[String]) -> Value {
    serde_json::from_str(&text(&run(&with(args, &["-o", "json"]), &[]))).unwrap()
}

#[test]
fn goldens_small_medium_huge() {
    for (name, args) in [("small", small()), ("medium", medium()), ("huge", huge())] {
        let table = text(&run(&args, &[]));
        golden(&format!("{name}.txt"), &table);
        let markdown = text(&run(&with(&args, &["-o", "markdown"]), &[]));
        golden(&format!("{name}.md"), &markdown);
        check_comment(name, &markdown, &plan_json(&args));
    }
}

#[test]
fn the_huge_plan_lists_what_changes_and_counts_the_rest() {
    let args = huge();
    let table = text(&run(&args, &[]));
    let plan = plan_json(&args);
    let unchanged = plan["summary"]["unchanged"].as_u64().unwrap();
    assert!(unchanged > 1_000, "{unchanged}");
    let rows = |t: &str, action: &str| {
        t.lines()
            .filter(|l| l.split_whitespace().nth(1) == Some(action))
            .count()
    };
    assert_eq!(rows(&table, "unchanged"), 0);
    assert!(
        table.contains(&format!(
            "Not listed: {unchanged} unchanged, 0 keep (--details lists them)"
        )),
        "{}",
        &table[table.len().saturating_sub(2000)..]
    );
    assert!(
        table.lines().count() < 600,
        "{} lines",
        table.lines().count()
    );
    let detailed = text(&run(&with(&args, &["--details"]), &[]));
    assert_eq!(rows(&detailed, "unchanged") as u64, unchanged);
    let markdown = text(&run(&with(&args, &["-o", "markdown", "--details"]), &[]));
    check_comment("huge --details", &markdown, &plan);
}

/// Consecutive Gateway API releases and the oldest → newest pair, as upstream publishes
/// them (experimental channel; and standard for the widest pair), over a cluster that runs
/// the older one.
#[test]
fn comments_fit_and_render_for_gateway_api_release_pairs() {
    let root = PathBuf::from(corpus("gateway-api"));
    let mut releases: Vec<semver::Version> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().to_string();
            let published = root
                .join(&name)
                .join("as-released/experimental-install.yaml");
            published
                .exists()
                .then(|| name.trim_start_matches('v').parse().ok())?
        })
        .collect();
    releases.sort();
    assert!(releases.len() >= 10, "{releases:?}");
    let file = |v: &semver::Version, channel: &str| {
        corpus(&format!(
            "gateway-api/v{v}/as-released/{channel}-install.yaml"
        ))
    };
    let mut pairs: Vec<(String, String, String)> = releases
        .windows(2)
        .map(|w| {
            (
                format!("v{} -> v{}", w[0], w[1]),
                file(&w[0], "experimental"),
                file(&w[1], "experimental"),
            )
        })
        .collect();
    let (oldest, newest) = (&releases[0], &releases[releases.len() - 1]);
    for channel in ["experimental", "standard"] {
        pairs.push((
            format!("v{oldest} -> v{newest} {channel}"),
            file(oldest, channel),
            file(newest, channel),
        ));
    }
    let mut blocked = 0;
    for (name, installed, desired) in pairs {
        let args: Vec<String> = vec![
            "plan".into(),
            desired,
            "--snapshot".into(),
            installed,
            "--server-version".into(),
            "v1.36.3".into(),
        ];
        let plan = plan_json(&args);
        if plan["verdict"] == "blocked" {
            blocked += 1;
        }
        let markdown = text(&run(&with(&args, &["-o", "markdown"]), &[]));
        check_comment(&name, &markdown, &plan);
    }
    // The pairs must include blocked plans, or the stopping-items checks checked nothing.
    assert!(blocked > 0);
}

#[test]
fn yaml_is_the_same_object_as_json() {
    let snapshot = corpus("gateway-api/v1.3.0/experimental-install.yaml");
    let policy = repo().join("examples/acme-gateway/crdguard.yaml");
    let commands: Vec<Vec<String>> = vec![
        small(),
        vec!["status".into(), "--snapshot".into(), snapshot.clone()],
        vec![
            "check".into(),
            "--policy".into(),
            policy.display().to_string(),
            "--snapshot".into(),
            snapshot.clone(),
            "--server-version".into(),
            "v1.33.1".into(),
        ],
        vec![
            "diff".into(),
            snapshot.clone(),
            corpus("gateway-api/v1.6.1/as-released/experimental-install.yaml"),
        ],
        vec!["catalog".into(), "list".into()],
    ];
    for args in commands {
        let json: Value = serde_json::from_str(&text(&run(&with(&args, &["-o", "json"]), &[])))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        let yaml_text = text(&run(&with(&args, &["-o", "yaml"]), &[]));
        let yaml: Value = serde_yaml_ng::from_str(&yaml_text).unwrap();
        assert_eq!(json, yaml, "{args:?}");
    }
}

const ESC: &str = "\u{1b}[";

#[test]
fn colour_only_on_a_terminal_or_when_asked() {
    let args = medium();
    // Piped: no colour, unless --color always.
    assert!(!text(&run(&args, &[])).contains(ESC));
    let always = text(&run(&with(&args, &["--color", "always"]), &[]));
    assert!(always.contains(ESC));
    // Colour never changes the words.
    let plain = text(&run(&args, &[]));
    assert_eq!(
        anstream::adapter::strip_str(&always).to_string(),
        plain,
        "colour changed the text"
    );
    assert!(!text(&run(&with(&args, &["--color", "never"]), &[])).contains(ESC));
    // Machine-readable and Markdown output never carry colour.
    for format in ["json", "yaml", "markdown"] {
        let out = text(&run(
            &with(&args, &["--color", "always", "-o", format]),
            &[],
        ));
        assert!(!out.contains(ESC), "{format}");
    }
}

/// Runs `command` on a pseudo-terminal of `columns` columns (util-linux `script`, part of
/// every Debian system) and returns what the terminal received.
fn on_terminal(command: &[String], columns: usize, env: &str) -> String {
    let quoted: Vec<String> = command
        .iter()
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_crdguard"));
    let line = format!(
        "cd '{}' && stty cols {columns} rows 50; {env} '{}' {}",
        scratch().display(),
        bin.display(),
        quoted.join(" ")
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env("TERM", "xterm-256color")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n")
}

#[test]
fn a_terminal_gets_colour_and_lines_that_fit_its_width() {
    let args = medium();
    let screen = on_terminal(&args, 120, "");
    assert!(screen.contains(ESC), "no colour on a terminal");
    let visible = anstream::adapter::strip_str(&screen).to_string();
    assert!(visible.contains("Verdict: BLOCKED"), "{visible}");
    let widest = visible.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(
        widest <= 120,
        "a line of {widest} columns on a 120-column terminal"
    );
    // Piped, the same plan has much longer lines: one row per line, for grep.
    let piped = text(&run(&args, &[]));
    assert!(piped.lines().map(str::len).max().unwrap() > 120);
    // Wrapping loses no words.
    let words = |t: &str| {
        let mut w: Vec<String> = t
            .split_whitespace()
            .map(|s| s.trim_end_matches('…').to_string())
            .collect();
        w.sort();
        w
    };
    let on_screen = words(&visible);
    for word in [
        "backendtlspolicies.gateway.networking.k8s.io",
        "--allow-breaking",
    ] {
        assert!(on_screen.iter().any(|w| w.contains(word)), "{word} lost");
    }
    // NO_COLOR is honoured on a terminal too.
    let no_color = on_terminal(&args, 120, "NO_COLOR=1");
    assert!(!no_color.contains(ESC));
    assert!(no_color.contains("Verdict: BLOCKED"));
}

#[test]
fn details_list_the_items_left_alone() {
    let args = small();
    let plan = plan_json(&args);
    let kept: Vec<&str> = plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["action"] == "keep")
        .map(|i| i["crd"].as_str().unwrap())
        .collect();
    assert!(!kept.is_empty());
    let short = text(&run(&args, &[]));
    let detailed = text(&run(&with(&args, &["--details"]), &[]));
    for crd in &kept {
        assert!(
            !short.lines().any(|l| l.trim_start().starts_with(crd)),
            "{short}"
        );
        assert!(
            detailed.lines().any(|l| l.trim_start().starts_with(crd)),
            "{detailed}"
        );
    }
    assert!(short.contains(&format!("Not listed: 0 unchanged, {} keep", kept.len())));
}

/// A snapshot of a cluster that runs `file`'s CRDs: each with the `status.storedVersions` the
/// server keeps (its storage version), as `kubectl get crd -o yaml` shows.
fn observed(file: &str) -> String {
    let items = installed_crds(&std::fs::read_to_string(file).unwrap());
    let path = scratch().join(format!("observed-{}.json", items.len()));
    let list = serde_json::json!({ "apiVersion": "v1", "kind": "List", "items": items });
    std::fs::write(&path, list.to_string()).unwrap();
    path.display().to_string()
}

/// The verdict of a blocked plan names the flags that move it forward, and they do.
#[test]
fn a_blocked_verdict_names_the_next_step_and_it_unblocks() {
    let args: Vec<String> = vec![
        "plan".into(),
        corpus("gateway-api/v1.6.1/as-released/experimental-install.yaml"),
        "--snapshot".into(),
        observed(&corpus(
            "gateway-api/v0.5.0/as-released/experimental-install.yaml",
        )),
        "--server-version".into(),
        "v1.36.3".into(),
    ];
    let table = text(&run(&args, &[]));
    let verdict = table.lines().last().unwrap();
    let flags: Vec<String> = verdict
        .split("next: the same command with ")
        .nth(1)
        .unwrap_or_else(|| panic!("no next step in {verdict:?}"))
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert!(flags.contains(&"--migrate".to_string()), "{verdict}");
    let markdown = text(&run(&with(&args, &["-o", "markdown"]), &[]));
    for flag in &flags {
        assert!(
            markdown.contains(&format!("`{flag}`")),
            "{flag} not in the comment"
        );
    }
    let flag_refs: Vec<&str> = flags.iter().map(String::as_str).collect();
    let out = run(&with(&args, &flag_refs), &[]);
    let after = text(&out);
    assert_eq!(out.status.code(), Some(0), "{after}");
    assert!(after.lines().last().unwrap().starts_with("Verdict: ok"));
}
