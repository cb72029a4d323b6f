//! The conventions people expect of a CLI: shell completions, a man page, examples in every
//! command's help, the kubectl and Helm plugin names, and the CI examples (examples/ci) run as
//! a pipeline or a pre-commit hook would.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected input

mod common;

use common::*;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use assert_cmd::Command;
use serde_yaml_ng::Value;

const SHELLS: [&str; 5] = ["bash", "zsh", "fish", "powershell", "elvish"];

fn crdguard(args: &[&str]) -> Output {
    Command::cargo_bin("crdguard")
        .unwrap()
        .args(args)
        .env_remove("HELM_PLUGIN_NAME")
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Stdout of a run that must succeed.
fn ok(args: &[&str]) -> String {
    let out = crdguard(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

/// Whether a program is on PATH.
fn installed(program: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

struct Temp(PathBuf);

impl Temp {
    fn new(name: &str) -> Temp {
        let dir = std::env::temp_dir().join(format!(
            "crdguard-conventions-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Temp(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The names under "Commands:" in a help text, without clap's `help`.
fn commands_in_help(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| line.trim() != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        // Continuation lines of a wrapped description are indented further.
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// The top-level commands, as `crdguard --help` lists them.
fn top_level_commands() -> Vec<String> {
    let commands = commands_in_help(&ok(&["--help"]));
    for expected in ["plan", "apply", "diff", "completions", "man"] {
        assert!(commands.iter().any(|c| c == expected), "{commands:?}");
    }
    commands
}

/// Every command path (`plan`, `guard render`, ...), found through the help texts.
fn all_command_paths() -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut queue: Vec<Vec<String>> = top_level_commands().into_iter().map(|c| vec![c]).collect();
    while let Some(path) = queue.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        for sub in commands_in_help(&ok(&args)) {
            let mut child = path.clone();
            child.push(sub);
            queue.push(child);
        }
        paths.push(path);
    }
    paths.sort();
    paths
}

#[test]
fn completion_scripts_name_every_command() {
    let commands = top_level_commands();
    // How each shell's script registers itself for `crdguard`.
    let registration = [
        ("bash", "complete -F _crdguard"),
        ("zsh", "#compdef crdguard"),
        ("fish", "complete -c crdguard"),
        (
            "powershell",
            "Register-ArgumentCompleter -Native -CommandName 'crdguard'",
        ),
        ("elvish", "edit:completion:arg-completer[crdguard]"),
    ];
    for shell in SHELLS {
        let script = ok(&["completions", shell]);
        assert!(script.len() > 1000, "{shell}: {script}");
        let marker = registration.iter().find(|(s, _)| *s == shell).unwrap().1;
        assert!(script.contains(marker), "{shell} lacks {marker:?}");
        for command in &commands {
            assert!(script.contains(command.as_str()), "{shell} lacks {command}");
        }
        // Flags and their fixed values are there too.
        for word in ["snapshot", "take-ownership", "markdown"] {
            assert!(script.contains(word), "{shell} lacks {word}");
        }
    }
    let out = crdguard(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("possible values"), "{}", stderr(&out));
}

/// Runs a shell script; returns its stdout.
fn shell(program: &str, script: &str) -> String {
    let out = std::process::Command::new(program)
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{program}: {}\n{}",
        stderr(&out),
        stdout(&out)
    );
    stdout(&out)
}

#[test]
fn bash_completion_parses_and_completes() {
    let temp = Temp::new("bash");
    let script = temp.write("crdguard.bash", &ok(&["completions", "bash"]));
    let script = script.display();
    let out = std::process::Command::new("bash")
        .args(["-n", &script.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "bash -n: {}", stderr(&out));
    // What <TAB> offers: the completion function called as bash calls it (command, word, previous).
    let complete = |words: &str, current: usize, word: &str, previous: &str| {
        shell(
            "bash",
            &format!(
                "source {script}; COMP_WORDS=({words}); COMP_CWORD={current}; \
                 _crdguard crdguard '{word}' '{previous}'; printf '%s\\n' \"${{COMPREPLY[@]}}\""
            ),
        )
    };
    let offered = complete("crdguard pl", 1, "pl", "crdguard");
    assert_eq!(offered.trim(), "plan", "{offered}");
    let offered = complete("crdguard plan -o ''", 3, "", "-o");
    for format in ["table", "json", "markdown"] {
        assert!(offered.lines().any(|l| l == format), "{offered}");
    }
    let offered = complete("crdguard guard ''", 2, "", "guard");
    for sub in ["render", "apply"] {
        assert!(offered.lines().any(|l| l == sub), "{offered}");
    }
}

#[test]
fn zsh_and_fish_completions_parse() {
    let temp = Temp::new("zsh-fish");
    if installed("zsh") {
        let script = temp.write("_crdguard", &ok(&["completions", "zsh"]));
        let out = std::process::Command::new("zsh")
            .arg("-n")
            .arg(&script)
            .output()
            .unwrap();
        assert!(out.status.success(), "zsh -n: {}", stderr(&out));
    } else {
        eprintln!("note: zsh is not installed; its completion script is not parsed");
    }
    if installed("fish") {
        let script = temp.write("crdguard.fish", &ok(&["completions", "fish"]));
        let out = std::process::Command::new("fish")
            .arg("--no-execute")
            .arg(&script)
            .output()
            .unwrap();
        assert!(out.status.success(), "fish -n: {}", stderr(&out));
        let offered = shell(
            "fish",
            &format!(
                "source {}; complete -C 'crdguard pl'; complete -C 'crdguard plan --output '",
                script.display()
            ),
        );
        assert!(
            offered.lines().any(|l| l.starts_with("plan\t")),
            "{offered}"
        );
        // A value, with its description when it has one.
        assert!(
            offered
                .lines()
                .any(|l| l == "markdown" || l.starts_with("markdown\t")),
            "{offered}"
        );
    } else {
        eprintln!("note: fish is not installed; its completion script is not parsed");
    }
}

/// A page rendered by man-db, as a reader sees it, after groff found no problem in it.
fn render_man_page(page: &Path) -> String {
    assert!(
        installed("man") && installed("groff"),
        "man-db and groff are needed (apt-get install man-db groff-base)"
    );
    let out = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(page)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "groff on {}: {}",
        page.display(),
        stderr(&out)
    );
    let out = std::process::Command::new("man")
        .arg("-l")
        .arg(page)
        .env("MANWIDTH", "80")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "man -l: {}", stderr(&out));
    stdout(&out)
}

#[test]
fn man_page_renders() {
    let out = crdguard(&["man"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let roff = stdout(&out);
    assert!(roff.contains(".TH crdguard 1"), "{roff}");

    // Through man's standard input, as `crdguard man | man -l -` reads it.
    let mut man = std::process::Command::new("man")
        .args(["-l", "-"])
        .env("MANWIDTH", "80")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("man (apt-get install man-db)");
    man.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    let rendered = man.wait_with_output().unwrap();
    assert_eq!(rendered.status.code(), Some(0), "{}", stderr(&rendered));
    let text = stdout(&rendered);
    for section in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "SUBCOMMANDS",
        "EXAMPLES",
    ] {
        assert!(
            text.lines().any(|l| l == section),
            "no {section} in:\n{text}"
        );
    }
    for command in top_level_commands() {
        assert!(
            text.contains(&format!("crdguard-{command}(1)")),
            "{command} not in:\n{text}"
        );
    }
    // Examples are one command a line, as written (not filled into a paragraph).
    assert!(
        text.lines()
            .any(|l| l.trim() == "crdguard status --snapshot cluster.yaml"),
        "{text}"
    );
}

#[test]
fn man_dir_writes_a_page_per_command() {
    let temp = Temp::new("man");
    let dir = temp.path("man1");
    let out = crdguard(&["man", "--dir", &dir.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let paths = all_command_paths();
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    pages.sort();
    let mut expected: Vec<String> = paths
        .iter()
        .map(|p| format!("crdguard-{}.1", p.join("-")))
        .chain(["crdguard.1".to_string()])
        .collect();
    expected.sort();
    assert_eq!(pages, expected);
    assert!(stderr(&out).contains(&format!("{} man pages", expected.len())));

    let plan = render_man_page(&dir.join("crdguard-plan.1"));
    assert!(plan.starts_with("crdguard-plan(1)"), "{plan}");
    assert!(plan.contains("--take-ownership"), "{plan}");
    assert!(
        plan.lines().any(|l| l.trim()
            == "crdguard plan --chart ./my-chart --snapshot cluster.yaml -o markdown > plan.md"),
        "{plan}"
    );
    // The after-help's notes are kept, before the examples.
    let notes = plan.find("NOTES").expect("NOTES");
    assert!(
        plan[notes..].contains("Exit code 1 when anything"),
        "{plan}"
    );
    assert!(notes < plan.find("EXAMPLES").expect("EXAMPLES"));
    let render = render_man_page(&dir.join("crdguard-guard-render.1"));
    assert!(render.contains("--server-version"), "{render}");
    for page in &pages {
        let text = render_man_page(&dir.join(page));
        assert!(text.contains("SYNOPSIS"), "{page}: {text}");
    }
}

/// The lines of a help text's "Examples:" section, a line continued with `\` joined to the next.
fn examples(help: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut continued = false;
    for line in help
        .lines()
        .skip_while(|line| line.trim() != "Examples:")
        .skip(1)
        .take_while(|line| line.starts_with("  "))
    {
        let text = line.trim();
        let (text, next) = match text.strip_suffix('\\') {
            Some(head) => (head.trim_end(), true),
            None => (text, false),
        };
        match lines.last_mut() {
            Some(last) if continued => {
                last.push(' ');
                last.push_str(text);
            }
            _ => lines.push(text.to_string()),
        }
        continued = next;
    }
    lines
}

/// The crdguard arguments of each `crdguard ...` command in one example line: shell
/// redirections, pipes to other programs, `-- helm flags` and a closing `(remark)` left out.
fn example_invocations(line: &str) -> Vec<Vec<String>> {
    let line = line.split(" (").next().unwrap();
    let line = line.replace("<(", " ").replace(')', " ");
    let mut invocations = Vec::new();
    for segment in line.split(['|', ';']).flat_map(|s| s.split("&&")) {
        let words: Vec<&str> = segment.split_whitespace().collect();
        let Some(start) = words.iter().position(|w| *w == "crdguard") else {
            continue;
        };
        let args = words[start + 1..]
            .iter()
            .take_while(|w| !matches!(**w, ">" | ">>" | "<" | "--"))
            .map(|w| w.to_string())
            .collect();
        invocations.push(args);
    }
    invocations
}

#[test]
fn every_command_has_examples_that_parse() {
    let mut paths = all_command_paths();
    assert!(paths.len() >= 19, "{paths:?}");
    paths.push(Vec::new()); // crdguard itself
    for path in paths {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let help = ok(&args);
        let name = if path.is_empty() {
            "crdguard".to_string()
        } else {
            format!("crdguard {}", path.join(" "))
        };
        let lines = examples(&help);
        assert!(
            help.contains("\nExamples:\n") && !lines.is_empty(),
            "{name} --help has no examples:\n{help}"
        );
        let mut own = 0;
        for line in &lines {
            // A line too long for the help's width would be wrapped, its tail read as another
            // example: every line is a command of its own.
            assert!(
                line.contains("crdguard "),
                "{name}: {line:?} is not a command"
            );
            for invocation in example_invocations(line) {
                if invocation.len() >= path.len() && invocation[..path.len()] == path[..] {
                    own += 1;
                }
                // The example's flags and values parse: clap reads them all before the
                // trailing --help, and stops at the first it does not know (exit 2).
                let mut parsed: Vec<&str> = invocation.iter().map(String::as_str).collect();
                parsed.push("--help");
                let out = crdguard(&parsed);
                assert_eq!(
                    out.status.code(),
                    Some(0),
                    "{name}: example {line:?} does not parse: {}",
                    stderr(&out)
                );
            }
        }
        assert!(own > 0, "{name}: no example runs {name}: {lines:?}");
    }
}

#[test]
fn examples_in_help_are_checked() {
    // The parser of example lines above, on the shapes the examples use.
    assert_eq!(
        example_invocations("source <(crdguard completions bash)"),
        [["completions", "bash"]]
    );
    assert_eq!(
        example_invocations(
            "crdguard plan --chart c -o json > plan.json && crdguard apply --plan plan.json"
        ),
        [
            vec!["plan", "--chart", "c", "-o", "json"],
            vec!["apply", "--plan", "plan.json"]
        ]
    );
    assert_eq!(
        example_invocations("helm crdguard install a ./c -n x -- --create-namespace (plugin)"),
        [["install", "a", "./c", "-n", "x"]]
    );
    assert!(example_invocations("kubectl apply -f -").is_empty());
    // A misspelt flag in an example is caught.
    let out = crdguard(&["plan", "--snapshott", "x", "--help"]);
    assert_eq!(out.status.code(), Some(2));
}

/// A directory with `kubectl-crdguard`, a link to the binary, as a kubectl plugin is installed.
fn kubectl_plugin_dir(temp: &Temp) -> PathBuf {
    let dir = temp.path("bin");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_crdguard"), dir.join("kubectl-crdguard"))
        .unwrap();
    dir
}

fn run(program: &Path, args: &[&str], path_first: &Path) -> Output {
    let path = format!(
        "{}:{}",
        path_first.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new(program)
        .args(args)
        .env("PATH", path)
        .env_remove("HELM_PLUGIN_NAME")
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap()
}

#[test]
fn kubectl_plugin_says_kubectl_crdguard() {
    let temp = Temp::new("kubectl");
    let dir = kubectl_plugin_dir(&temp);
    let plugin = dir.join("kubectl-crdguard");
    let out = run(&plugin, &["--help"], &dir);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let help = stdout(&out);
    assert!(
        help.contains("Usage: kubectl crdguard [OPTIONS] <COMMAND>"),
        "{help}"
    );
    assert!(!help.contains("Usage: crdguard"), "{help}");
    let help = stdout(&run(&plugin, &["plan", "--help"], &dir));
    assert!(help.contains("Usage: kubectl crdguard plan"), "{help}");

    let out = run(&plugin, &["plan", "--no-such-flag"], &dir);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Usage: kubectl crdguard plan"),
        "{}",
        stderr(&out)
    );
    let out = run(&plugin, &["--version"], &dir);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).starts_with("crdguard "), "{}", stdout(&out));
    // The plugin works, not only its help.
    let out = run(
        &plugin,
        &[
            "plan",
            "--chart",
            &repo().join("examples/acme-gateway").display().to_string(),
            "--snapshot",
            &repo()
                .join("examples/cluster-snapshot.yaml")
                .display()
                .to_string(),
            "-o",
            "json",
        ],
        &dir,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(plan["items"].is_array(), "{plan}");
}

/// A real kubectl: the shared tools' (with helm), else one on PATH.
fn kubectl() -> Option<PathBuf> {
    let shared = std::process::Command::new(shared().join("tools/install-helm.sh"))
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("kubectl"));
    shared
        .filter(|k| k.is_file())
        .or_else(|| installed("kubectl").then(|| PathBuf::from("kubectl")))
}

#[test]
fn kubectl_finds_the_plugin() {
    let Some(kubectl) = kubectl() else {
        eprintln!("note: no kubectl here; plugin discovery is not tried");
        return;
    };
    let temp = Temp::new("kubectl-discovery");
    let dir = kubectl_plugin_dir(&temp);
    let out = run(&kubectl, &["crdguard", "--help"], &dir);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Usage: kubectl crdguard [OPTIONS] <COMMAND>"),
        "{}",
        stdout(&out)
    );
    // kubectl runs the plugin in its place: the plugin's exit code is kubectl's.
    let out = run(&kubectl, &["crdguard", "diff", "--no-such-flag"], &dir);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = run(&kubectl, &["plugin", "list"], &dir);
    assert!(
        stdout(&out).contains("kubectl-crdguard"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn helm_plugin_says_helm_crdguard() {
    let temp = Temp::new("helm-plugin");
    let helm = helm_bin();
    let helm_cmd = |args: &[&str]| {
        Command::new(&helm)
            .args(args)
            .env("XDG_DATA_HOME", temp.path("data"))
            .env("XDG_CONFIG_HOME", temp.path("config"))
            .env("XDG_CACHE_HOME", temp.path("cache"))
            .env("CRDGUARD_BIN", env!("CARGO_BIN_EXE_crdguard"))
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap()
    };
    let out = helm_cmd(&["plugin", "install", &repo().display().to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = helm_cmd(&["crdguard", "plan", "--help"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Usage: helm crdguard plan"),
        "{}",
        stdout(&out)
    );
    let out = helm_cmd(&[
        "crdguard",
        "plan",
        "--chart",
        &repo().join("examples/acme-gateway").display().to_string(),
        "--snapshot",
        &repo()
            .join("examples/cluster-snapshot.yaml")
            .display()
            .to_string(),
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(plan["items"].is_array(), "{plan}");
    let out = helm_cmd(&["crdguard", "plan", "--no-such-flag"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Usage: helm crdguard plan"),
        "{}",
        stderr(&out)
    );
}

fn ci_example(name: &str) -> PathBuf {
    repo().join("examples/ci").join(name)
}

/// Runs examples/ci/plan-comment.sh with crdguard plan arguments; returns its output and the
/// comment it wrote.
fn plan_comment(temp: &Temp, args: &[&str]) -> (Output, String) {
    let comment = temp.path("comment.md");
    let _ = std::fs::remove_file(&comment);
    let out = Command::new(ci_example("plan-comment.sh"))
        .args(args)
        .env("CRDGUARD", env!("CARGO_BIN_EXE_crdguard"))
        .env("COMMENT_FILE", &comment)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&comment).unwrap_or_default();
    (out, text)
}

#[test]
fn plan_comment_script_writes_the_comment() {
    let temp = Temp::new("plan-comment");
    let chart = repo().join("examples/acme-gateway").display().to_string();
    let snapshot = repo()
        .join("examples/cluster-snapshot.yaml")
        .display()
        .to_string();
    let (out, comment) = plan_comment(&temp, &["--chart", &chart, "--snapshot", &snapshot]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(comment.starts_with("<!-- crdguard-plan -->\n"), "{comment}");
    assert!(comment.contains("the plan is safe to apply"), "{comment}");
    // crdguard's markdown: headings and a table naming the chart's CRDs.
    assert!(comment.lines().any(|l| l.starts_with('#')), "{comment}");
    assert!(comment.lines().any(|l| l.starts_with('|')), "{comment}");
    assert!(
        comment.contains("retrypolicies.gateway.acme.example"),
        "{comment}"
    );
    assert_eq!(stdout(&out), comment);

    // Blocked: exit 1, and the comment (with the reasons) is still written.
    let policy = temp.write(
        "policy.yaml",
        "apiVersion: crdguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec:\n  bundles:\n  - name: gateway-api\n    minimum: v1.6.0\n    upgrade: never\n",
    );
    let (out, comment) = plan_comment(
        &temp,
        &[
            &corpus("gateway-api/v1.6.1/standard-install.yaml"),
            "--snapshot",
            &corpus("gateway-api/v1.5.1/standard-install.yaml"),
            "--policy",
            &policy.display().to_string(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(comment.contains("the plan is blocked"), "{comment}");
    assert!(comment.contains("below-minimum"), "{comment}");

    // crdguard cannot plan: its error goes into the comment, and its exit code out.
    let (out, comment) = plan_comment(&temp, &["--chart", &chart, "--snapshot", "/no/such/file"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(comment.contains("could not plan"), "{comment}");
    assert!(comment.contains("```text\nerror:"), "{comment}");
}

#[test]
fn workflow_posts_the_comment_then_fails_a_blocked_plan() {
    let text = std::fs::read_to_string(ci_example("crdguard-plan.yml")).unwrap();
    let workflow: Value = serde_yaml_ng::from_str(&text).unwrap();
    assert!(workflow["on"]["pull_request"].is_mapping(), "{text}");
    assert_eq!(
        workflow["permissions"]["pull-requests"].as_str(),
        Some("write")
    );
    let steps = workflow["jobs"]["plan"]["steps"].as_sequence().unwrap();
    let position = |needle: &str| {
        steps
            .iter()
            .position(|s| s["run"].as_str().is_some_and(|r| r.contains(needle)))
            .unwrap_or_else(|| panic!("no step runs {needle:?}"))
    };
    let install = position("cargo install --locked");
    let plan = position("plan-comment.sh --chart");
    let post = position("gh pr comment");
    let fail = position("exit \"${CODE:-1}\"");
    assert!(install < plan && plan < post && post < fail);
    assert!(
        steps[plan]["run"].as_str().unwrap().contains("|| code=$?"),
        "the plan step must not fail before the comment is posted"
    );
    assert!(steps[post]["run"].as_str().unwrap().contains("--body-file"));
    assert_eq!(
        steps[fail]["if"].as_str(),
        Some("steps.plan.outputs.exit != '0'")
    );
}

/// A git repository holding the v1.5.0 Gateway API CRDs and a values file, committed.
fn git_repo(temp: &Temp) -> PathBuf {
    let root = temp.path("repo");
    temp.write(
        "repo/crds/gateway-api.yaml",
        &std::fs::read_to_string(corpus("gateway-api/v1.5.0/standard-install.yaml")).unwrap(),
    );
    temp.write("repo/crds/values.yaml", "replicas: 1\n");
    for args in [
        &["init", "-q"][..],
        &["add", "."],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            "crds",
        ],
    ] {
        let out = git(&root, args);
        assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    }
    root
}

fn git(root: &Path, args: &[&str]) -> Output {
    std::process::Command::new("git")
        .args(args)
        .current_dir(root)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap()
}

fn hook(root: &Path, args: &[&str]) -> Output {
    Command::new(ci_example("crd-diff-hook.sh"))
        .args(args)
        .current_dir(root)
        .env("CRDGUARD", env!("CARGO_BIN_EXE_crdguard"))
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap()
}

#[test]
fn pre_commit_hook_fails_on_breaking_crd_changes() {
    let temp = Temp::new("hook");
    let root = git_repo(&temp);
    let crds = root.join("crds/gateway-api.yaml");
    // As pre-commit runs it: its args, then the changed files.
    let files = ["crds/gateway-api.yaml", "crds/values.yaml"];
    let pre_commit = |files: &[&str]| {
        let mut args = vec!["--server-version", "v1.33.1", "--no-info"];
        args.extend_from_slice(files);
        hook(&root, &args)
    };

    // Unchanged: compared, nothing to report.
    let out = pre_commit(&files);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("== crdguard diff"),
        "{}",
        stdout(&out)
    );

    // A compatible change (a patch release): exit 0, with either way of naming the files.
    std::fs::write(
        &crds,
        std::fs::read_to_string(corpus("gateway-api/v1.5.1/standard-install.yaml")).unwrap(),
    )
    .unwrap();
    std::fs::write(root.join("crds/values.yaml"), "replicas: 2\n").unwrap();
    let out = pre_commit(&files);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("== crdguard diff HEAD:crds/gateway-api.yaml crds/gateway-api.yaml"),
        "{text}"
    );
    assert!(!text.contains("values.yaml"), "not a CRD file: {text}");
    assert!(text.contains("validation-rule-added"), "a warning: {text}");
    assert_eq!(hook(&root, &[]).status.code(), Some(0));

    // A breaking change: v1.6.1 makes ReferenceGrant's spec required.
    std::fs::write(
        &crds,
        std::fs::read_to_string(corpus("gateway-api/v1.6.1/standard-install.yaml")).unwrap(),
    )
    .unwrap();
    let out = pre_commit(&files);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("required-field-added"), "{text}");
    assert!(
        text.contains("referencegrants.gateway.networking.k8s.io"),
        "{text}"
    );
    assert!(
        stderr(&out).contains("crds/gateway-api.yaml: breaking changes"),
        "{}",
        stderr(&out)
    );
    // Without file arguments: the files changed since HEAD.
    let out = hook(&root, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("required-field-added"));

    // A new CRD file has nothing to be compared with; a broken one is bad input (exit 2).
    temp.write("repo/crds/new.yaml", "kind: CustomResourceDefinition\n");
    let out = hook(&root, &["crds/new.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::fs::write(&crds, "kind: CustomResourceDefinition\nspec: [\n").unwrap();
    let out = hook(&root, &["crds/gateway-api.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn pre_commit_config_runs_the_hook_on_crd_files() {
    let text = std::fs::read_to_string(ci_example("pre-commit-config.yaml")).unwrap();
    let config: Value = serde_yaml_ng::from_str(&text).unwrap();
    let repo_entry = &config["repos"][0];
    assert_eq!(repo_entry["repo"].as_str(), Some("local"));
    let hook = &repo_entry["hooks"][0];
    assert!(
        hook["entry"]
            .as_str()
            .unwrap()
            .ends_with("crd-diff-hook.sh")
    );
    assert_eq!(hook["language"].as_str(), Some("script"));
    let pattern = hook["files"].as_str().unwrap();
    let args: Vec<&str> = hook["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args, ["--server-version", "v1.33.1", "--no-info"]);
    // The pattern (a Python regex, searched) selects CRD directories only; checked with grep -E.
    for (path, selected) in [
        ("crds/widgets.yaml", true),
        ("charts/app/crds/widgets.yml", true),
        ("charts/app/templates/deployment.yaml", false),
        ("crds/README.md", false),
    ] {
        let found = std::process::Command::new("grep")
            .args(["-Eq", pattern])
            .stdin(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(format!("{path}\n").as_bytes())?;
                child.wait()
            })
            .unwrap()
            .success();
        assert_eq!(found, selected, "{pattern} on {path}");
    }
}
