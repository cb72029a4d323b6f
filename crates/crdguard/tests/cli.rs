//! The command line as users and other tools run it: exit codes, messages, the JSON contract.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected input

mod common;

use common::*;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde::Deserialize;
use serde_json::Value;

fn example(relative: &str) -> String {
    repo().join("examples").join(relative).display().to_string()
}

fn crdguard(args: &[&str]) -> Output {
    Command::cargo_bin("crdguard")
        .unwrap()
        .args(args)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap()
}

fn crdguard_stdin(args: &[&str], stdin: &str) -> Output {
    Command::cargo_bin("crdguard")
        .unwrap()
        .args(args)
        .write_stdin(stdin)
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

/// Asserts exit code 2 and that stderr holds every fragment, on one screen, without a panic.
fn assert_bad_input(out: &Output, fragments: &[&str]) {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stderr: {err}\nstdout: {}",
        stdout(out)
    );
    for fragment in fragments {
        assert!(err.contains(fragment), "missing {fragment:?} in: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.lines().count() <= 25, "more than one screen: {err}");
}

struct Temp(PathBuf);

impl Temp {
    fn new(name: &str) -> Temp {
        let dir = std::env::temp_dir().join(format!("crdguard-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Temp(dir)
    }
    fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }
    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: { kind: Widget, plural: widgets }
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: { type: object }
"#;

const HTTP_ROUTES: &str = "httproutes.gateway.networking.k8s.io";

fn empty_snapshot(temp: &Temp) -> String {
    temp.write("snapshot.yaml", "apiVersion: v1\nkind: List\nitems: []\n")
}

#[test]
fn readme_main_job_keeps_the_newer_bundle_and_creates_extension_crds() {
    let out = crdguard(&[
        "plan",
        "--chart",
        &example("acme-gateway"),
        "--snapshot",
        &example("cluster-snapshot.yaml"),
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    for item in plan["items"].as_array().unwrap() {
        let expected = if item["bundle"] == "gateway-api" {
            ("keep", "newer-installed")
        } else {
            ("create", "absent")
        };
        assert_eq!(
            (
                item["action"].as_str().unwrap(),
                item["reasons"][0]["code"].as_str().unwrap()
            ),
            expected,
            "{item}"
        );
    }
    assert_eq!(plan["summary"]["keep"], 3);
    assert_eq!(plan["summary"]["create"], 2);
    assert_eq!(
        plan["cluster"]["serverVersion"], "v1.33.1",
        "recorded in the snapshot's List annotation"
    );
}

/// A policy whose Gateway API channel is experimental: the only thing that widens a standard
/// install (SPEC §2 v2).
const WIDENING_POLICY: &str = "apiVersion: crdguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: widen}\nspec:\n  bundles:\n  - name: gateway-api\n    channel: experimental\n";

#[test]
fn plan_json_follows_the_spec_contract() {
    let temp = Temp::new("contract");
    let policy = temp.write("policy.yaml", WIDENING_POLICY);
    let out = crdguard(&[
        "plan",
        &corpus("gateway-api/v1.2.1/experimental-install.yaml"),
        "--snapshot",
        &corpus("gateway-api/v1.2.0/standard-install.yaml"),
        "--server-version",
        "v1.33.1",
        "--policy",
        &policy,
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["apiVersion"], "crdguard.dev/v1alpha1");
    assert_eq!(plan["kind"], "Plan");
    assert_eq!(plan["cluster"]["source"], "snapshot");
    assert_eq!(plan["cluster"]["serverVersion"], "v1.33.1");
    for key in ["preflight", "bundles", "items", "summary", "verdict"] {
        assert!(plan.get(key).is_some(), "missing {key}");
    }
    let check = &plan["preflight"][0];
    assert_eq!(check["check"], "kubernetes-version");
    assert!(["pass", "warn", "fail"].contains(&check["status"].as_str().unwrap()));
    let bundle = &plan["bundles"][0];
    assert_eq!(bundle["name"], "gateway-api");
    assert_eq!(bundle["class"], "standard");
    assert_eq!(bundle["installed"]["version"], "v1.2.0");
    assert_eq!(bundle["installed"]["channel"], "standard");
    assert_eq!(bundle["desired"]["version"], "v1.2.1");
    assert_eq!(bundle["decision"], "upgrade");
    let items = plan["items"].as_array().unwrap();
    assert_eq!(items.len(), 10);
    let http = items
        .iter()
        .find(|i| i["crd"] == "httproutes.gateway.networking.k8s.io")
        .unwrap();
    assert_eq!(http["bundle"], "gateway-api");
    assert_eq!(http["class"], "standard");
    assert_eq!(http["action"], "upgrade");
    assert_eq!(http["reasons"][0]["code"], "channel-widening");
    assert_eq!(http["installed"]["version"], "v1.2.0");
    assert_eq!(
        http["installed"]["storedVersions"],
        serde_json::json!([]),
        "the release file has no status"
    );
    assert!(http["installed"].get("owner").is_some());
    assert_eq!(http["desired"]["channel"], "experimental");
    let finding = &http["findings"][0];
    for key in ["severity", "check", "version", "path", "message"] {
        assert!(finding.get(key).is_some(), "finding lacks {key}: {finding}");
    }
    let absent = items.iter().find(|i| i["action"] == "create").unwrap();
    assert!(
        absent["installed"].is_null(),
        "installed is null for an absent CRD"
    );
    let summary = &plan["summary"];
    let total: u64 = [
        "create",
        "upgrade",
        "unchanged",
        "keep",
        "conflict",
        "blocked",
    ]
    .iter()
    .map(|k| summary[k].as_u64().unwrap())
    .sum();
    assert_eq!(total, 10);
    assert_eq!(plan["verdict"], "ok");
}

#[test]
fn blocked_plan_exits_1_and_says_so() {
    let temp = Temp::new("blocked");
    let policy = temp.write(
        "policy.yaml",
        "apiVersion: crdguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec:\n  bundles:\n  - name: gateway-api\n    minimum: v1.6.0\n    upgrade: never\n",
    );
    let out = crdguard(&[
        "plan",
        &corpus("gateway-api/v1.6.1/standard-install.yaml"),
        "--snapshot",
        &corpus("gateway-api/v1.5.1/standard-install.yaml"),
        "--policy",
        &policy,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("below-minimum"), "{text}");
    assert!(text.contains("BLOCKED"), "{text}");
}

#[test]
fn markdown_output_is_a_table() {
    let out = crdguard(&[
        "plan",
        "--chart",
        &example("acme-gateway"),
        "--snapshot",
        &example("cluster-snapshot.yaml"),
        "-o",
        "markdown",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains("| CRD | ACTION | INSTALLED -> OFFERED | REASON |"),
        "{text}"
    );
    assert!(text.contains("#### Bundles"), "{text}");
    assert!(text.contains("| `gateway-api` | standard |"), "{text}");
}

#[test]
fn stdin_source_and_chart_archive_give_the_same_plan_as_files() {
    let temp = Temp::new("tgz");
    let archive = temp.path("acme-gateway-0.3.0.tgz");
    let status = std::process::Command::new("tar")
        .args([
            "czf",
            &archive,
            "-C",
            &repo().join("examples").display().to_string(),
            "acme-gateway",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let plan_of = |args: &[&str]| -> Value {
        let out = crdguard(args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let mut plan: Value = serde_json::from_slice(&out.stdout).unwrap();
        plan.as_object_mut().unwrap().remove("warnings");
        plan
    };
    let snapshot = example("cluster-snapshot.yaml");
    let from_dir = plan_of(&[
        "plan",
        "--chart",
        &example("acme-gateway"),
        "--snapshot",
        &snapshot,
        "-o",
        "json",
    ]);
    let from_tgz = plan_of(&["plan", &archive, "--snapshot", &snapshot, "-o", "json"]);
    assert_eq!(from_dir, from_tgz);

    let mut stdin_text =
        std::fs::read_to_string(example("acme-gateway/crds/gateway-api.yaml")).unwrap();
    stdin_text.push_str(&std::fs::read_to_string(example("acme-gateway/crds/acme.yaml")).unwrap());
    let out = Command::cargo_bin("crdguard")
        .unwrap()
        .args([
            "plan",
            "-",
            "--snapshot",
            &snapshot,
            "--policy",
            &example("acme-gateway/crdguard.yaml"),
            "-o",
            "json",
        ])
        .write_stdin(stdin_text)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut from_stdin: Value = serde_json::from_slice(&out.stdout).unwrap();
    from_stdin.as_object_mut().unwrap().remove("warnings");
    assert_eq!(from_dir, from_stdin);
}

#[test]
fn status_reports_bundles_owners_and_stored_versions() {
    let temp = Temp::new("status");
    let snapshot = temp.write(
        "snap.yaml",
        &CRD.replace(
            "metadata:\n  name: widgets.example.com\n",
            "metadata:\n  name: widgets.example.com\n  annotations:\n    meta.helm.sh/release-name: shop\n    meta.helm.sh/release-namespace: apps\n",
        )
        .replace("spec:\n  group", "status:\n  storedVersions: [v1beta1, v1]\nspec:\n  group"),
    );
    let out = crdguard(&["status", "--snapshot", &snapshot, "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    let crd = &status["crds"][0];
    assert_eq!(crd["owner"], "helm release apps/shop");
    assert_eq!(crd["storedVersions"], serde_json::json!(["v1beta1", "v1"]));
    assert_eq!(
        crd["unservedStoredVersions"],
        serde_json::json!(["v1beta1"])
    );

    let out = crdguard(&["status", "--snapshot", &example("cluster-snapshot.yaml")]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains("gateway-api") && text.contains("v1.6.1") && text.contains("experimental"),
        "{text}"
    );
}

#[test]
fn check_fails_when_the_cluster_is_below_the_policy() {
    let temp = Temp::new("check");
    let policy = temp.write(
        "policy.yaml",
        "apiVersion: crdguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec:\n  kubernetes: {minimum: '1.30'}\n  bundles:\n  - name: gateway-api\n    minimum: v1.6.0\n    requiredKinds: [Gateway, HTTPRoute]\n",
    );
    let ok = crdguard(&[
        "check",
        "--policy",
        &policy,
        "--snapshot",
        &corpus("gateway-api/v1.6.1/standard-install.yaml"),
        "--server-version",
        "v1.33.0",
        "-o",
        "json",
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));
    let report: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(report["verdict"], "ok");
    let old = crdguard(&[
        "check",
        "--policy",
        &policy,
        "--snapshot",
        &corpus("gateway-api/v1.5.1/standard-install.yaml"),
        "--server-version",
        "v1.29.0",
    ]);
    assert_eq!(old.status.code(), Some(1));
    let text = stdout(&old);
    assert!(text.contains("below the policy minimum v1.6.0"), "{text}");
    assert!(
        text.contains("older than the policy minimum v1.30.0"),
        "{text}"
    );
}

// ---- bad input: exit 2, a message naming file, document (item) and field, no panic ----

#[test]
fn malformed_yaml_names_file_document_and_line() {
    let temp = Temp::new("malformed");
    let file = temp.write("bad.yaml", &format!("{CRD}---\nkind: [unclosed\n  x: y\n"));
    let snap = empty_snapshot(&temp);
    assert_bad_input(
        &crdguard(&["plan", &file, "--snapshot", &snap]),
        &["bad.yaml", "document 2", "invalid YAML"],
    );
}

#[test]
fn crd_without_plural_names_the_field() {
    let temp = Temp::new("plural");
    let file = temp.write("crd.yaml", &CRD.replace(", plural: widgets", ""));
    let snap = empty_snapshot(&temp);
    assert_bad_input(
        &crdguard(&["plan", &file, "--snapshot", &snap]),
        &["crd.yaml", "document 1", "spec.names.plural"],
    );
}

#[test]
fn two_storage_versions_are_refused() {
    let temp = Temp::new("storage");
    let two = CRD.replace(
        "  - name: v1\n",
        "  - name: v1beta1\n    served: true\n    storage: true\n  - name: v1\n",
    );
    let file = temp.write("crd.yaml", &two);
    let snap = empty_snapshot(&temp);
    assert_bad_input(
        &crdguard(&["plan", &file, "--snapshot", &snap]),
        &["crd.yaml", "spec.versions", "v1beta1, v1", "exactly one"],
    );
}

#[test]
fn name_must_be_plural_dot_group() {
    let temp = Temp::new("name");
    let file = temp.write(
        "crd.yaml",
        &CRD.replace("name: widgets.example.com", "name: gadgets.example.com"),
    );
    let snap = empty_snapshot(&temp);
    assert_bad_input(
        &crdguard(&["plan", &file, "--snapshot", &snap]),
        &["metadata.name", "widgets.example.com"],
    );
}

#[test]
fn duplicate_crd_with_different_content_is_refused() {
    let temp = Temp::new("dup");
    let other = CRD.replace("{ type: object }", "{ type: object, description: changed }");
    let file = temp.write("dup.yaml", &format!("{CRD}---\n{other}"));
    let snap = empty_snapshot(&temp);
    assert_bad_input(
        &crdguard(&["plan", &file, "--snapshot", &snap]),
        &["dup.yaml", "document 2", "defined twice", "document 1"],
    );
    // The same content twice is fine.
    let same = temp.write("same.yaml", &format!("{CRD}---\n{CRD}"));
    assert_eq!(
        crdguard(&["plan", &same, "--snapshot", &snap])
            .status
            .code(),
        Some(0)
    );
}

/// `diff` reads its new set file by file and drops each CRD once diffed; what it reports must
/// be what the whole set gives: duplicates checked, the order of files kept, bad files named.
#[test]
fn diff_of_a_directory_checks_duplicates_and_names_bad_files() {
    let temp = Temp::new("diff-dir");
    let old = temp.write("old/widgets.yaml", CRD);
    let gadgets = CRD
        .replace("widgets", "gadgets")
        .replace("Widget", "Gadget");
    temp.write("new/a-widgets.yaml", CRD);
    temp.write("new/b-gadgets.yaml", &gadgets);
    let out = crdguard(&["diff", &old, &temp.path("new"), "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let diff: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = diff["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["crd"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["gadgets.example.com", "widgets.example.com"]);
    assert_eq!(
        plan_item(&diff, "gadgets.example.com")["findings"][0]["check"],
        "crd-added"
    );
    // The same CRD in two files of the new set: fine when equal, refused when not.
    temp.write("new/c-widgets-again.yaml", CRD);
    let out = crdguard(&["diff", &old, &temp.path("new"), "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let other = CRD.replace("{ type: object }", "{ type: object, description: changed }");
    temp.write("new/c-widgets-again.yaml", &other);
    assert_bad_input(
        &crdguard(&["diff", &old, &temp.path("new")]),
        &["c-widgets-again.yaml", "defined twice"],
    );
    // A file that does not parse is named, whichever file the threads read first.
    temp.write("new/c-widgets-again.yaml", "kind: [unclosed\n");
    assert_bad_input(
        &crdguard(&["diff", &old, &temp.path("new")]),
        &["c-widgets-again.yaml"],
    );
    // Standard input is read once: duplicates there are checked as before.
    let twice = format!("{CRD}---\n{CRD}");
    let out = crdguard_stdin(&["diff", &old, "-", "-o", "json"], &twice);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let other = CRD.replace("{ type: object }", "{ type: object, description: changed }");
    let out = crdguard_stdin(&["diff", &old, "-"], &format!("{CRD}---\n{other}"));
    assert_bad_input(&out, &["defined twice"]);
    // A new set without any CRD is refused as before.
    temp.write(
        "empty/none.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
    );
    assert_bad_input(
        &crdguard(&["diff", &old, &temp.path("empty")]),
        &["no CustomResourceDefinition"],
    );
}

#[test]
fn alias_bomb_fails_fast() {
    let temp = Temp::new("bomb");
    let mut bomb = String::from(
        "apiVersion: v1\nkind: List\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let mut prev = 'a';
    for name in ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'] {
        bomb.push_str(&format!("{name}: &{name} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
        prev = name;
    }
    let file = temp.write("bomb.yaml", &bomb);
    let snap = empty_snapshot(&temp);
    let started = Instant::now();
    let out = crdguard(&["plan", &file, "--snapshot", &snap]);
    assert_bad_input(&out, &["bomb.yaml", "document 1", "invalid YAML"]);
    // Not a timing assertion on speed, a guard against expanding 9^10 nodes: that takes minutes.
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn huge_document_is_refused_before_parsing() {
    let temp = Temp::new("huge");
    let path = temp.path("huge.yaml");
    {
        use std::io::Write;
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        writeln!(file, "apiVersion: v1\nkind: ConfigMap\ndata:\n  blob: |").unwrap();
        let line = format!("    {}\n", "x".repeat(1020));
        for _ in 0..(200 * 1024) {
            file.write_all(line.as_bytes()).unwrap();
        }
    }
    assert!(std::fs::metadata(&path).unwrap().len() > 200_000_000);
    let snap = empty_snapshot(&temp);
    assert_bad_input(
        &crdguard(&["plan", &path, "--snapshot", &snap]),
        &["huge.yaml", "document 1", "more than the limit"],
    );
}

/// Whole install manifests are what users have (SPEC §1): objects that are neither CRDs nor
/// companions are skipped in a named file too, with one warning that counts them by kind.
#[test]
fn non_crd_documents_in_a_named_file_are_skipped_with_one_counted_warning() {
    let temp = Temp::new("noncrd");
    let file = temp.write(
        "mixed.yaml",
        &format!(
            "{CRD}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: x}}\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: a}}\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: b}}\n"
        ),
    );
    let snap = empty_snapshot(&temp);
    let out = crdguard(&["plan", &file, "--snapshot", &snap, "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings = plan["warnings"].as_array().unwrap();
    let skipped: Vec<&Value> = warnings
        .iter()
        .filter(|w| w["message"].as_str().unwrap().contains("skipped"))
        .collect();
    assert_eq!(skipped.len(), 1, "{plan}");
    let message = skipped[0]["message"].as_str().unwrap();
    assert!(message.contains("skipped 3 object(s)"), "{message}");
    assert!(message.contains("1 ConfigMap, 2 Service"), "{message}");
    assert!(
        skipped[0]["source"]
            .as_str()
            .unwrap()
            .ends_with("mixed.yaml")
    );
    assert_eq!(plan["summary"]["create"], 1);
}

#[test]
fn non_crd_documents_in_a_chart_are_skipped_with_a_warning() {
    let temp = Temp::new("chartwarn");
    temp.write(
        "chart/Chart.yaml",
        "apiVersion: v2\nname: c\nversion: 0.1.0\n",
    );
    temp.write(
        "chart/crds/all.yaml",
        &format!("{CRD}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: stray}}\n"),
    );
    let snap = empty_snapshot(&temp);
    let out = crdguard(&[
        "plan",
        "--chart",
        &temp.path("chart"),
        "--snapshot",
        &snap,
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        plan["warnings"].to_string().contains("ConfigMap stray"),
        "{plan}"
    );
    assert_eq!(plan["summary"]["create"], 1);
}

#[test]
fn unknown_policy_field_and_bad_semver_are_named() {
    let temp = Temp::new("policy");
    let snap = empty_snapshot(&temp);
    let crd = temp.write("crd.yaml", CRD);
    let unknown = temp.write("p1.yaml", "apiVersion: crdguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec:\n  bundles:\n  - name: gateway-api\n    minimun: v1.0.0\n");
    assert_bad_input(
        &crdguard(&["plan", &crd, "--snapshot", &snap, "--policy", &unknown]),
        &["p1.yaml", "spec.bundles[0].minimun", "unknown field"],
    );
    let semver = temp.write("p2.yaml", "apiVersion: crdguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec:\n  bundles:\n  - name: gateway-api\n    recommended: v1.x\n");
    assert_bad_input(
        &crdguard(&["plan", &crd, "--snapshot", &snap, "--policy", &semver]),
        &["p2.yaml", "spec.bundles[0].recommended", "v1.x"],
    );
}

#[test]
fn missing_file_and_empty_directory_are_bad_input() {
    let temp = Temp::new("missing");
    let snap = empty_snapshot(&temp);
    assert_bad_input(
        &crdguard(&["plan", &temp.path("nope.yaml"), "--snapshot", &snap]),
        &["nope.yaml", "no such file"],
    );
    temp.write("empty/README.md", "nothing here");
    temp.write("empty/values.yaml", "a: 1\n");
    assert_bad_input(
        &crdguard(&["plan", &temp.path("empty"), "--snapshot", &snap]),
        &["empty", "no CustomResourceDefinition found"],
    );
    assert_bad_input(
        &crdguard(&[
            "plan",
            &temp.write("crd.yaml", CRD),
            "--snapshot",
            &temp.path("gone.yaml"),
        ]),
        &["gone.yaml", "no such file"],
    );
}

#[test]
fn bad_snapshot_item_names_the_list_index() {
    let temp = Temp::new("snapitem");
    let list = format!(
        "apiVersion: v1\nkind: List\nitems:\n- {}\n- {}\n",
        serde_json::to_string(&serde_yaml_ng::from_str::<Value>(CRD).unwrap()).unwrap(),
        serde_json::to_string(
            &serde_yaml_ng::from_str::<Value>(&CRD.replace("scope: Namespaced", "scope: Galaxy"))
                .unwrap()
        )
        .unwrap()
    );
    let snap = temp.write("snap.yaml", &list);
    let crd = temp.write("crd.yaml", CRD);
    assert_bad_input(
        &crdguard(&["plan", &crd, "--snapshot", &snap]),
        &["snap.yaml", "items[1]", "spec.scope", "Galaxy"],
    );
}

#[test]
fn bad_flags_and_missing_inputs_are_usage_errors() {
    assert_bad_input(&crdguard(&["plan", "--frobnicate"]), &["--frobnicate"]);
    assert_bad_input(&crdguard(&["plan", "x.yaml", "-o", "xml"]), &["xml"]);
    assert_bad_input(
        &crdguard(&["plan", "--snapshot", "s.yaml"]),
        &["nothing to plan"],
    );
    // Without --snapshot, plan goes live: no kubeconfig means exit 3 with one clear line.
    let out = Command::cargo_bin("crdguard")
        .unwrap()
        .args(["plan", &example("acme-gateway")])
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot load the cluster configuration"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).lines().count() <= 3);
    assert_eq!(crdguard(&["--help"]).status.code(), Some(0));
}

#[test]
fn non_utf8_and_empty_files() {
    let temp = Temp::new("bytes");
    let path = temp.path("latin1.yaml");
    std::fs::write(&path, b"apiVersion: v1\nkind: \xff\xfe\n").unwrap();
    let snap = empty_snapshot(&temp);
    assert_bad_input(
        &crdguard(&["plan", &path, "--snapshot", &snap]),
        &["latin1.yaml", "not UTF-8"],
    );
    let empty = temp.write("empty.yaml", "");
    assert_bad_input(
        &crdguard(&["plan", &empty, "--snapshot", &snap]),
        &["no CustomResourceDefinition found"],
    );
}

#[test]
fn archive_members_outside_the_chart_are_skipped() {
    let temp = Temp::new("traversal");
    // Build a tar.gz whose member escapes with `..`, by hand (tar(1) refuses to create one).
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut add = |path: &str, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.as_gnu_mut().unwrap().name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    };
    add(
        "evil/Chart.yaml",
        b"apiVersion: v2\nname: evil\nversion: 0.1.0\n",
    );
    add("evil/crds/ok.yaml", CRD.as_bytes());
    add(
        "evil/../../escape/crds/x.yaml",
        CRD.replace("widgets", "escapes").as_bytes(),
    );
    let bytes = builder.into_inner().unwrap().finish().unwrap();
    let archive = temp.path("evil.tgz");
    std::fs::write(&archive, bytes).unwrap();
    let snap = empty_snapshot(&temp);
    let out = crdguard(&["plan", &archive, "--snapshot", &snap, "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["items"].as_array().unwrap().len(), 1);
    assert!(
        plan["warnings"].to_string().contains("leaves the archive"),
        "{plan}"
    );
    assert!(!Path::new(&temp.path("escape")).exists());
}

#[test]
fn diff_reports_findings_as_json_and_exits_by_severity() {
    let out = crdguard(&[
        "diff",
        &corpus("gateway-api/v1.1.0/experimental-install.yaml"),
        &corpus("gateway-api/v1.2.0/experimental-install.yaml"),
        "-o",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "v1.1.0 → v1.2.0 has breaking changes: {}",
        stderr(&out)
    );
    let diff: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(diff["summary"]["error"].as_u64().unwrap() > 0);
    let grpc = plan_item(&diff, "grpcroutes.gateway.networking.k8s.io");
    let removed = grpc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["version"] == "v1alpha2")
        .unwrap();
    assert!(
        removed["check"]
            .as_str()
            .unwrap()
            .contains("version-removed"),
        "{removed}"
    );
    for key in ["severity", "check", "version", "path", "message"] {
        assert!(removed.get(key).is_some());
    }
    // Patch releases that only change the annotation: no error, exit 0.
    let out = crdguard(&[
        "diff",
        &corpus("gateway-api/v1.6.0/standard-install.yaml"),
        &corpus("gateway-api/v1.6.1/standard-install.yaml"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("0 error, 0 warning"));
    assert_bad_input(&crdguard(&["diff", "-", "-"]), &["both"]);
    assert_bad_input(
        &crdguard(&["diff", &corpus("gateway-api/v1.6.0/standard-install.yaml")]),
        &["NEW"],
    );
}

#[test]
fn check_for_every_builtin_product_policy_at_matching_and_older_bundles() {
    let out = crdguard(&["catalog", "list", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut checked = 0;
    for product in list["products"].as_array().unwrap() {
        let name = product["product"].as_str().unwrap();
        for version in product["versions"].as_array().unwrap() {
            let reference = format!("{name}@{}", version.as_str().unwrap());
            let shown = crdguard(&["catalog", "show", &reference, "-o", "json"]);
            assert_eq!(
                shown.status.code(),
                Some(0),
                "{reference}: {}",
                stderr(&shown)
            );
            let policy: Value = serde_json::from_slice(&shown.stdout).unwrap();
            let bundle = &policy["bundles"][0];
            let recommended = bundle["recommended"].as_str().unwrap();
            let channel = bundle["channel"].as_str().unwrap_or("standard");
            // A cluster at the product's recommended Gateway API release passes…
            let matching = corpus(&format!("gateway-api/{recommended}/{channel}-install.yaml"));
            let ok = crdguard(&[
                "check",
                "--for",
                &reference,
                "--snapshot",
                &matching,
                "--server-version",
                "v1.33.2",
                "-o",
                "json",
            ]);
            let report: Value = serde_json::from_slice(&ok.stdout).unwrap();
            let failed: Vec<&Value> = report["preflight"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["status"] == "fail")
                .collect();
            // Products that cap Kubernetes below 1.33 only fail on the version check.
            assert!(
                failed.iter().all(|c| c["check"] == "kubernetes-version"),
                "{reference} against {recommended}/{channel}: {failed:?}"
            );
            // …and one at v0.5.0 (older than every product's minimum) fails the bundle checks.
            let old = crdguard(&[
                "check",
                "--for",
                &reference,
                "--snapshot",
                &corpus("gateway-api/v0.5.0/standard-install.yaml"),
                "--server-version",
                "v1.33.2",
            ]);
            assert_eq!(
                old.status.code(),
                Some(1),
                "{reference} accepted v0.5.0: {}",
                stdout(&old)
            );
            checked += 1;
        }
    }
    assert!(checked >= 25, "only {checked} built-in policies");
    assert_bad_input(
        &crdguard(&[
            "check",
            "--for",
            "envoy-gateway@v0.1",
            "--snapshot",
            &corpus("gateway-api/v1.6.1/standard-install.yaml"),
        ]),
        &["no built-in policy", "envoy-gateway@v1.9"],
    );
}

#[test]
fn stripped_annotations_are_identified_by_content() {
    let temp = Temp::new("identify");
    let text = std::fs::read_to_string(corpus("gateway-api/v1.5.1/standard-install.yaml")).unwrap();
    let stripped: String = text
        .lines()
        .filter(|l| {
            !l.contains("gateway.networking.k8s.io/bundle-version")
                && !l.contains("gateway.networking.k8s.io/channel")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let snapshot = temp.write("stripped.yaml", &stripped);
    let out = crdguard(&[
        "plan",
        &corpus("gateway-api/v1.6.1/standard-install.yaml"),
        "--snapshot",
        &snapshot,
        "-o",
        "json",
    ]);
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let http = plan_item(&plan, "httproutes.gateway.networking.k8s.io");
    assert_eq!(http["installed"]["version"], "v1.5.1", "{http}");
    assert_eq!(http["installed"]["channel"], "standard");
    assert!(
        http["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["code"] == "identified-by-digest"),
        "{http}"
    );
    assert_ne!(
        http["action"], "conflict",
        "identified content is not an unversioned conflict"
    );

    // Annotations that lie: v1.6.1 content labelled v1.5.1.
    let lying = std::fs::read_to_string(corpus("gateway-api/v1.6.1/standard-install.yaml"))
        .unwrap()
        .replace("bundle-version: v1.6.1", "bundle-version: v1.5.1");
    let snapshot = temp.write("lying.yaml", &lying);
    let out = crdguard(&["status", "--snapshot", &snapshot, "-o", "json"]);
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    // v1.6.0 and v1.6.1 have identical content: for CRDs that changed in v1.6 the content
    // proves the range v1.6.0..v1.6.1, reported as its newest member (never lower than the
    // truth); it agrees with v1.5.1 for the others.
    let crds = status["crds"].as_array().unwrap();
    let http = crds
        .iter()
        .find(|c| c["name"] == "httproutes.gateway.networking.k8s.io")
        .unwrap();
    assert_eq!(http["version"], "v1.6.1", "{http}");
    assert_eq!(
        http["versionRange"],
        serde_json::json!({"from": "v1.6.0", "to": "v1.6.1"}),
        "{http}"
    );
    assert_eq!(http["identifiedBy"], "digest");
    assert!(
        http["notes"].to_string().contains("annotation-mismatch"),
        "{http}"
    );
    assert!(
        status["bundles"][0]["versions"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("v1.6.1"))
    );
}

/// Serves `../shared/corpus/gateway-api/<tag>/<file>` at `/<tag>/<file>` on loopback (a stand-in
/// for the release asset host), for `count` requests.
#[test]
fn catalog_references_are_fetched_verified_and_cached() {
    let temp = Temp::new("fetch");
    let snap = empty_snapshot(&temp);
    let url = serve_corpus(1);
    let run = |args: &[&str]| {
        Command::cargo_bin("crdguard")
            .unwrap()
            .args(args)
            .env("XDG_CACHE_HOME", temp.path("cache"))
            .env_remove("CRDGUARD_CATALOG_URL")
            .output()
            .unwrap()
    };
    let out = run(&[
        "plan",
        "gateway-api@v1.6.1/experimental",
        "--catalog-url",
        &url,
        "--snapshot",
        &snap,
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    // 13 CRDs and the release's two companions (the fetched file's own copies are not what is
    // written: the catalog's are).
    assert_eq!(plan["summary"]["create"], 15);
    assert_eq!(plan["bundles"][0]["desired"]["version"], "v1.6.1");
    assert_eq!(
        plan["bundles"][0]["companions"],
        serde_json::json!([
            "ValidatingAdmissionPolicy/safe-upgrades.gateway.networking.k8s.io",
            "ValidatingAdmissionPolicyBinding/safe-upgrades.gateway.networking.k8s.io"
        ])
    );
    // The server served one request and is gone: the cache answers, offline.
    let out = run(&[
        "plan",
        "gateway-api@v1.6.1/experimental",
        "--offline",
        "--snapshot",
        &snap,
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Not cached and offline: exit 3, one line.
    let out = run(&[
        "plan",
        "gateway-api@v1.5.1",
        "--offline",
        "--snapshot",
        &snap,
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    // A release the catalog does not know is bad input.
    assert_bad_input(
        &run(&["plan", "gateway-api@v9.9.9", "--snapshot", &snap]),
        &["v9.9.9"],
    );
}

/// Gateway API's own `safe-upgrades` policy in the snapshot: writing experimental CRDs over a
/// standard install is denied by its rule 1, and the plan says so with the policy's message.
#[test]
fn plan_predicts_denials_of_the_clusters_admission_policies() {
    let temp = Temp::new("admission");
    let mut snapshot =
        std::fs::read_to_string(corpus("gateway-api/v1.5.0/standard-install.yaml")).unwrap();
    snapshot.push_str("\n---\n");
    snapshot.push_str(
        &std::fs::read_to_string(corpus("gateway-api/v1.5.0/extras-standard.yaml")).unwrap(),
    );
    let snapshot = temp.write("snapshot.yaml", &snapshot);
    let policy = temp.write("policy.yaml", WIDENING_POLICY);
    let out = crdguard(&[
        "plan",
        &corpus("gateway-api/v1.5.1/experimental-install.yaml"),
        "--snapshot",
        &snapshot,
        "--policy",
        &policy,
        "--allow-breaking",
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let http = plan_item(&plan, "httproutes.gateway.networking.k8s.io");
    assert_eq!(http["action"], "blocked", "{http}");
    assert_eq!(http["reasons"][0]["code"], "admission-denied", "{http}");
    assert!(
        http["reasons"][0]["message"]
            .as_str()
            .unwrap()
            .contains("safe-upgrades"),
        "{http}"
    );
    let check = plan["preflight"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "admission-policies")
        .unwrap();
    assert_eq!(check["status"], "pass", "{check}");
    // The same upgrade within the standard channel is allowed by the policy.
    let out = crdguard(&[
        "plan",
        &corpus("gateway-api/v1.5.1/standard-install.yaml"),
        "--snapshot",
        &snapshot,
        "--allow-breaking",
        "-o",
        "json",
    ]);
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        plan["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["action"] != "blocked"),
        "{}",
        plan["summary"]
    );
}

#[test]
fn guard_render_is_a_policy_and_a_binding() {
    let out = crdguard(&["guard", "render", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A v1 List, as `kubectl apply -f -` takes it (a bare JSON array it rejects).
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (list["apiVersion"].as_str(), list["kind"].as_str()),
        (Some("v1"), Some("List"))
    );
    let documents: Vec<Value> = serde_json::from_value(list["items"].clone()).unwrap();
    let kinds: Vec<&str> = documents
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding"
        ]
    );
    assert!(
        documents
            .iter()
            .all(|d| d["apiVersion"] == "admissionregistration.k8s.io/v1")
    );
    assert_eq!(
        documents[1]["spec"]["validationActions"],
        serde_json::json!(["Deny"])
    );
    let yaml = crdguard(&["guard", "render"]);
    assert!(stdout(&yaml).contains("crdguard.dev/allow-downgrade"));
    assert_bad_input(
        &crdguard(&["guard", "render", "--bundle", "istio"]),
        &["istio"],
    );
}

/// SPEC §2 row 11 with the catalog: the cluster runs v1.5.1 experimental, the source carries
/// v1.6.1 standard. crdguard plans the experimental release of v1.6.1 (channel-preserved)
/// instead of narrowing or standing still, experimental-only CRDs included.
#[test]
fn newer_standard_over_installed_experimental_uses_the_experimental_release() {
    let temp = Temp::new("preserve");
    let url = serve_corpus(1);
    let out = Command::cargo_bin("crdguard")
        .unwrap()
        .args([
            "plan",
            &corpus("gateway-api/v1.6.1/standard-install.yaml"),
            "--snapshot",
            &corpus("gateway-api/v1.5.1/experimental-install.yaml"),
            "--catalog-url",
            &url,
            "--allow-breaking",
            "-o",
            "json",
        ])
        .env("XDG_CACHE_HOME", temp.path("cache"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = plan["items"].as_array().unwrap();
    let http = items
        .iter()
        .find(|i| i["crd"] == "httproutes.gateway.networking.k8s.io")
        .unwrap();
    assert_eq!(http["action"], "upgrade", "{http}");
    assert_eq!(http["reasons"][0]["code"], "channel-preserved", "{http}");
    assert_eq!(http["desired"]["channel"], "experimental");
    assert_eq!(http["desired"]["version"], "v1.6.1");
    // The installed experimental-only kinds move with the bundle.
    assert!(
        items
            .iter()
            .any(|i| i["crd"] == "tcproutes.gateway.networking.k8s.io" && i["action"] == "upgrade"),
        "{}",
        plan["summary"]
    );
    // Without the release (offline, nothing cached elsewhere), the channel is kept and the plan says why.
    let out = Command::cargo_bin("crdguard")
        .unwrap()
        .args([
            "plan",
            &corpus("gateway-api/v1.6.1/standard-install.yaml"),
            "--snapshot",
            &corpus("gateway-api/v1.5.1/experimental-install.yaml"),
            "--offline",
            "-o",
            "json",
        ])
        .env("XDG_CACHE_HOME", temp.path("empty-cache"))
        .output()
        .unwrap();
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let http = plan_item(&plan, "httproutes.gateway.networking.k8s.io");
    assert_eq!(
        (http["action"].as_str(), http["reasons"][0]["code"].as_str()),
        (Some("keep"), Some("wider-channel-installed")),
        "{http}"
    );
    assert!(
        plan["warnings"]
            .to_string()
            .contains("installed channel is kept"),
        "{}",
        plan["warnings"]
    );
}

/// A plain CRD file as a snapshot has no `status`: its stored versions are unknown, so a plan
/// that removes a version (v1.1.0 → v1.2.0 drops GRPCRoute's and ReferenceGrant's v1alpha2) is
/// blocked and says how to get a snapshot that decides it, instead of planning a plain upgrade.
#[test]
fn snapshot_without_status_blocks_version_removals() {
    let out = crdguard(&[
        "plan",
        &corpus("gateway-api/v1.2.0/experimental-install.yaml"),
        "--snapshot",
        &corpus("gateway-api/v1.1.0/experimental-install.yaml"),
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for name in [
        "grpcroutes.gateway.networking.k8s.io",
        "referencegrants.gateway.networking.k8s.io",
    ] {
        let item = plan_item(&plan, name);
        assert_eq!(item["action"], "blocked", "{item}");
        assert_eq!(
            item["reasons"][0]["code"], "stored-versions-unknown",
            "{item}"
        );
        assert!(
            item["reasons"][0]["message"]
                .as_str()
                .unwrap()
                .contains("crdguard snapshot"),
            "{item}"
        );
    }
    // Gateway API v0.5.0's published file carries `status: {storedVersions: []}` (older
    // controller-gen): an empty list says nothing about what is stored either. HTTPRoute
    // v1.6.1 drops v1alpha2, which a v0.5.0 cluster may well store.
    let out = crdguard(&[
        "plan",
        &corpus("gateway-api/v1.6.1/as-released/experimental-install.yaml"),
        "--snapshot",
        &corpus("gateway-api/v0.5.0/as-released/experimental-install.yaml"),
        "-o",
        "json",
    ]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let routes = plan_item(&plan, HTTP_ROUTES);
    assert_eq!(routes["action"], "blocked", "{routes}");
    assert_eq!(
        routes["reasons"][0]["code"], "stored-versions-unknown",
        "{routes}"
    );
    // An explicit empty List is a valid empty cluster: everything is created.
    let dir = Temp::new("empty-list");
    let empty = dir.0.join("empty.yaml");
    std::fs::write(&empty, "apiVersion: v1\nkind: List\nitems: []\n").unwrap();
    let out = crdguard(&[
        "plan",
        &corpus("gateway-api/v1.2.0/standard-install.yaml"),
        "--snapshot",
        &empty.display().to_string(),
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        plan["summary"]["create"],
        plan["items"].as_array().unwrap().len()
    );
}

/// `catalog list` and `show` print tables for people (machines use `-o json`); `-o markdown`
/// of the list is a table.
#[test]
fn catalog_list_and_show_are_tables() {
    let table = stdout(&crdguard(&["catalog", "list"]));
    assert!(!table.contains("apiVersion:"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.trim_start().starts_with("v1.6.1") && l.contains("Kubernetes >= 1.31")),
        "{table}"
    );
    let markdown = stdout(&crdguard(&["catalog", "list", "-o", "markdown"]));
    assert!(markdown.starts_with("| bundle | release |"), "{markdown}");
    let show = stdout(&crdguard(&["catalog", "show", "gateway-api@v1.6.1"]));
    assert!(
        show.contains("experimental: Kubernetes >= 1.32, 13 CRDs")
            && show.contains("ValidatingAdmissionPolicy/safe-upgrades"),
        "{show}"
    );
    // Products: listed with their policy versions, and each policy shown as a table.
    let products: Value =
        serde_json::from_slice(&crdguard(&["catalog", "list", "-o", "json"]).stdout).unwrap();
    for product in products["products"].as_array().unwrap() {
        let name = product["product"].as_str().unwrap();
        assert!(
            table.lines().any(|l| l.trim_start().starts_with(name)),
            "{name} not listed: {table}"
        );
    }
    let policy = stdout(&crdguard(&["catalog", "show", "envoy-gateway@v1.9"]));
    assert!(
        policy.contains("gateway-api: minimum v1.6.0")
            && policy.contains("required kinds: GatewayClass")
            && policy.contains("reads (must stay served): ")
            && policy.contains("ReferenceGrant v1beta1"),
        "{policy}"
    );
    let all = stdout(&crdguard(&["catalog", "show", "envoy-gateway"]));
    assert!(
        all.lines()
            .filter(|l| l.starts_with("envoy-gateway v"))
            .count()
            > 5,
        "{all}"
    );
    let bundle = stdout(&crdguard(&["catalog", "show", "gateway-api"]));
    assert!(
        bundle.lines().any(|l| l.trim_start().starts_with("v1.6.1")),
        "{bundle}"
    );
}

/// Sources that do not end (a device, a pipe) are read up to the input limit and refused, and
/// a chart path that is not there is named as such (not as "helm not found").
#[test]
fn endless_sources_and_missing_charts_are_bad_input() {
    let temp = Temp::new("endless");
    let snapshot = empty_snapshot(&temp);
    let out = Command::cargo_bin("crdguard")
        .unwrap()
        .args(["plan", "/dev/zero", "--snapshot", &snapshot])
        .env("CRDGUARD_MAX_INPUT_BYTES", "1000000")
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_bad_input(
        &out,
        &["/dev/zero", "more than the input limit of 1000000 bytes"],
    );
    let missing = temp.path("no-such-chart");
    let out = crdguard(&["plan", "--chart", &missing, "--snapshot", &snapshot]);
    assert_bad_input(&out, &[&missing, "no such chart"]);
}

/// `check` ends a failed preflight with the way forward.
#[test]
fn a_failed_check_says_what_moves_it_forward() {
    let out = crdguard(&[
        "check",
        "--for",
        "envoy-gateway@v1.9",
        "--snapshot",
        &corpus("gateway-api/v1.4.1/standard-install.yaml"),
        "--server-version",
        "v1.34.0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("Next:") && text.contains("below the policy's minimum"),
        "{text}"
    );
}

/// The catalog's minimum Kubernetes per release and channel is a blocking bundle check: Gateway
/// API v1.5.1 uses CEL's IP library (Kubernetes 1.31), so a 1.29 cluster would reject the bundle
/// half-way through an apply.
#[test]
fn catalog_minimum_kubernetes_blocks_too_old_servers() {
    let dir = Temp::new("k8s-minimum");
    let empty = dir.0.join("empty.yaml");
    std::fs::write(&empty, "apiVersion: v1\nkind: List\nitems: []\n").unwrap();
    let plan_on = |server: &str| {
        let out = crdguard(&[
            "plan",
            &corpus("gateway-api/v1.5.1/standard-install.yaml"),
            "--snapshot",
            &empty.display().to_string(),
            "--server-version",
            server,
            "-o",
            "json",
        ]);
        let plan: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code(), plan)
    };
    let (code, plan) = plan_on("v1.29.4");
    assert_eq!(code, Some(1), "{plan}");
    let bundle = &plan["bundles"][0];
    assert_eq!(bundle["decision"], "blocked", "{bundle}");
    let reason = bundle["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["code"] == "kubernetes-too-old")
        .unwrap_or_else(|| panic!("{bundle}"));
    assert!(
        reason["message"].as_str().unwrap().contains("1.31"),
        "{reason}"
    );
    let (code, plan) = plan_on("v1.31.0");
    assert_eq!(code, Some(0), "{plan}");
}

/// The Gateway API releases whose published install files carry companions (SPEC §1).
const AS_RELEASED: [&str; 4] = ["v1.5.0", "v1.5.1", "v1.6.0", "v1.6.1"];

fn as_released(release: &str, channel: &str) -> String {
    corpus(&format!(
        "gateway-api/{release}/as-released/{channel}-install.yaml"
    ))
}

/// The companions' `spec`s of a release file, by kind, read straight from the corpus: the
/// test's own notion of "same content", independent of crdguard's digests.
fn companion_specs(path: &str) -> BTreeMap<String, Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .filter_map(|d| Value::deserialize(d).ok())
        .filter(|d| {
            matches!(
                d["kind"].as_str(),
                Some("ValidatingAdmissionPolicy" | "ValidatingAdmissionPolicyBinding")
            )
        })
        .map(|d| (d["kind"].as_str().unwrap().to_string(), d["spec"].clone()))
        .collect()
}

fn companion_items(plan: &Value) -> BTreeMap<String, Value> {
    plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] != "CustomResourceDefinition")
        .map(|i| (i["kind"].as_str().unwrap().to_string(), i.clone()))
        .collect()
}

fn snapshot_of(temp: &Temp, name: &str, files: &[String], server: &str) -> String {
    let mut text = format!(
        "apiVersion: v1\nkind: List\nmetadata:\n  annotations:\n    crdguard.dev/server-version: {server}\nitems: []\n"
    );
    for file in files {
        text.push_str("---\n");
        text.push_str(&std::fs::read_to_string(file).unwrap());
        text.push('\n');
    }
    temp.write(name, &text)
}

/// What users download (SPEC §1): the release's own install file, CRDs plus the safe-upgrades
/// policy and binding, against an empty, an older and a newer cluster of the same channel.
/// Companions are created with the bundle, upgraded with it, and never lowered.
#[test]
fn published_install_files_plan_their_companions_with_the_bundle() {
    let temp = Temp::new("asreleased");
    let empty = snapshot_of(&temp, "empty.yaml", &[], "v1.33.0");
    for channel in ["standard", "experimental"] {
        let oldest = as_released(AS_RELEASED[0], channel);
        let newest = as_released(AS_RELEASED[3], channel);
        let older = snapshot_of(
            &temp,
            &format!("older-{channel}.yaml"),
            std::slice::from_ref(&oldest),
            "v1.33.0",
        );
        let newer = snapshot_of(
            &temp,
            &format!("newer-{channel}.yaml"),
            std::slice::from_ref(&newest),
            "v1.33.0",
        );
        for release in AS_RELEASED {
            let file = as_released(release, channel);
            let label = format!("{release}/{channel}");
            let specs = companion_specs(&file);
            assert_eq!(specs.len(), 2, "{label}: the file carries both companions");

            let out = crdguard(&["plan", &file, "--snapshot", &empty, "-o", "json"]);
            assert_eq!(out.status.code(), Some(0), "{label}: {}", stderr(&out));
            let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert!(
                !plan["warnings"].to_string().contains("skipped"),
                "{label}: nothing in a release file is skipped: {}",
                plan["warnings"]
            );
            let companions = companion_items(&plan);
            assert_eq!(companions.len(), 2, "{label}");
            for item in companions.values() {
                assert_eq!(item["action"], "create", "{label}: {item}");
                assert_eq!(item["desired"]["version"], release, "{label}");
                assert_eq!(item["desired"]["channel"], channel, "{label}");
            }

            // Older cluster: written when the content differs, never otherwise.
            let out = crdguard(&["plan", &file, "--snapshot", &older, "-o", "json"]);
            let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
            let installed = companion_specs(&oldest);
            for (kind, item) in companion_items(&plan) {
                let expected = if installed[&kind] == specs[&kind] {
                    "unchanged"
                } else {
                    "upgrade"
                };
                assert_eq!(
                    item["action"], expected,
                    "{label} over {}: {item}",
                    AS_RELEASED[0]
                );
            }

            // Newer cluster: the bundle stays at the newer release, and so does its companion
            // (planned against that release, never lowered to the file's copy).
            let out = crdguard(&["plan", &file, "--snapshot", &newer, "-o", "json"]);
            let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
            let companions = companion_items(&plan);
            assert_eq!(companions.len(), 2, "{label}");
            for item in companions.values() {
                assert_eq!(
                    item["action"], "unchanged",
                    "{label} under {}: {item}",
                    AS_RELEASED[3]
                );
                assert_eq!(item["desired"]["version"], AS_RELEASED[3], "{label}");
            }
        }
    }
}

/// A cluster too old for ValidatingAdmissionPolicy v1 (1.30): the CRDs are planned, the
/// companions are not, and a warning says why.
#[test]
fn companions_are_not_planned_on_a_server_without_the_admission_api() {
    let temp = Temp::new("oldadmission");
    // v1.5.0 needs 1.31 for its CRDs; v1.4.1 CRDs with a 1.29 server would not carry
    // companions at all, so check the companions' own minimum with a forced server version.
    let snapshot = snapshot_of(&temp, "old.yaml", &[], "v1.29.4");
    let out = crdguard(&[
        "plan",
        &as_released("v1.6.1", "standard"),
        "--snapshot",
        &snapshot,
        "-o",
        "json",
    ]);
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(companion_items(&plan).is_empty(), "{plan}");
    let warnings = plan["warnings"].to_string();
    assert!(
        warnings.contains("ValidatingAdmissionPolicy/safe-upgrades.gateway.networking.k8s.io")
            && warnings.contains("1.30"),
        "{warnings}"
    );
}

/// A product's modified copy installed under upstream's name is left alone and named.
#[test]
fn a_modified_companion_is_kept_and_named() {
    let temp = Temp::new("modifiedvap");
    let upstream =
        std::fs::read_to_string(corpus("gateway-api/v1.6.1/extras-standard.yaml")).unwrap();
    let modified = upstream.replacen("failurePolicy: Fail", "failurePolicy: Ignore", 1);
    assert_ne!(modified, upstream);
    let extras = temp.write("modified-extras.yaml", &modified);
    let snapshot = snapshot_of(&temp, "cluster.yaml", &[extras], "v1.33.0");
    let out = crdguard(&[
        "plan",
        &as_released("v1.6.1", "standard"),
        "--snapshot",
        &snapshot,
        "-o",
        "json",
    ]);
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let companions = companion_items(&plan);
    let policy = &companions["ValidatingAdmissionPolicy"];
    assert_eq!(policy["action"], "keep", "{policy}");
    assert_eq!(
        policy["reasons"][0]["code"], "companion-modified",
        "{policy}"
    );
    assert_eq!(
        companions["ValidatingAdmissionPolicyBinding"]["action"],
        "unchanged"
    );
}

/// Whole install manifests (CRDs of a release, its companions, and a product's ordinary
/// objects) are read by `plan` and `diff` alike; the ordinary objects are counted, not errors.
#[test]
fn whole_install_manifests_are_planned_and_diffed() {
    let temp = Temp::new("wholeinstall");
    let mut text = std::fs::read_to_string(as_released("v1.6.1", "standard")).unwrap();
    text.push_str("\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: gateway-system}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: controller, namespace: gateway-system}\nspec:\n  selector: {matchLabels: {app: c}}\n  template:\n    metadata: {labels: {app: c}}\n    spec: {containers: [{name: c, image: example.com/c:1}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: controller, namespace: gateway-system}\n");
    let manifest = temp.write("install.yaml", &text);
    let empty = empty_snapshot(&temp);
    let out = crdguard(&["plan", &manifest, "--snapshot", &empty, "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings = plan["warnings"].to_string();
    assert!(
        warnings.contains("skipped 3 object(s)")
            && warnings.contains("1 Deployment, 1 Namespace, 1 Service"),
        "{warnings}"
    );
    assert_eq!(companion_items(&plan).len(), 2);

    let old = std::fs::read_to_string(as_released("v1.5.1", "standard")).unwrap()
        + "\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: gateway-system}\n";
    let old = temp.write("old-install.yaml", &old);
    let out = crdguard(&["diff", &old, &manifest, "-o", "json"]);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "diff reads install manifests: {}",
        stderr(&out)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report
            .to_string()
            .contains("httproutes.gateway.networking.k8s.io"),
        "{report}"
    );
}

/// `status` reports a bundle's companions (SPEC §9 v2): upstream's content (with the releases
/// holding it), a modified copy under upstream's name, or absent.
#[test]
fn status_reports_whether_companions_are_upstream_modified_or_absent() {
    let temp = Temp::new("companionstatus");
    let file = as_released("v1.6.1", "standard");
    let text = std::fs::read_to_string(&file).unwrap();
    let modified = temp.write(
        "modified.yaml",
        &text.replacen("failurePolicy: Fail", "failurePolicy: Ignore", 1),
    );
    let crds_only = corpus("gateway-api/v1.6.1/standard-install.yaml");
    for (snapshot, policy_state) in [
        (file.clone(), "upstream"),
        (modified, "modified"),
        (crds_only, "absent"),
    ] {
        let out = crdguard(&["status", "--snapshot", &snapshot, "-o", "json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let status: Value = serde_json::from_slice(&out.stdout).unwrap();
        let companions = status["bundles"][0]["companions"].as_array().unwrap();
        let state = |kind: &str| {
            companions
                .iter()
                .find(|c| {
                    c["object"]
                        .as_str()
                        .unwrap()
                        .starts_with(&format!("{kind}/"))
                })
                .cloned()
                .unwrap()
        };
        let policy = state("ValidatingAdmissionPolicy");
        assert_eq!(policy["state"], policy_state, "{snapshot}: {policy}");
        if policy_state == "upstream" {
            let releases = policy["releases"].to_string();
            assert!(releases.contains("v1.6.1/standard"), "{releases}");
            assert!(!releases.contains("v1.5.1"), "{releases}");
        }
        let binding = state("ValidatingAdmissionPolicyBinding");
        let expected = if policy_state == "absent" {
            "absent"
        } else {
            "upstream"
        };
        assert_eq!(binding["state"], expected, "{snapshot}: {binding}");
    }
}

/// SPEC §2 row 10 v2: a chart vendoring a newer experimental release over a standard install
/// upgrades it to that release's *standard* channel from the catalog (`channel-preserved`);
/// the experimental-only kinds are not added. Offline, the installed release is kept and a
/// warning says why.
#[test]
fn newer_experimental_sources_upgrade_a_standard_install_to_the_standard_release() {
    let temp = Temp::new("preservestd");
    let installed = snapshot_of(
        &temp,
        "std.yaml",
        &[corpus("gateway-api/v1.5.1/standard-install.yaml")],
        "v1.33.0",
    );
    let url = serve_corpus(1);
    let run = |args: &[&str]| {
        Command::cargo_bin("crdguard")
            .unwrap()
            .args(args)
            .env("XDG_CACHE_HOME", temp.path("cache"))
            .env_remove("CRDGUARD_CATALOG_URL")
            .output()
            .unwrap()
    };
    let source = corpus("gateway-api/v1.6.1/experimental-install.yaml");
    let out = run(&[
        "plan",
        &source,
        "--snapshot",
        &installed,
        "--catalog-url",
        &url,
        "--allow-breaking",
        "-o",
        "json",
    ]);
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let crds: Vec<&Value> = plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "CustomResourceDefinition")
        .collect();
    let standard_kinds =
        std::fs::read_to_string(corpus("gateway-api/v1.6.1/standard-install.yaml"))
            .unwrap()
            .matches("kind: CustomResourceDefinition")
            .count();
    assert_eq!(
        crds.len(),
        standard_kinds,
        "{:?}",
        crds.iter().map(|i| &i["crd"]).collect::<Vec<_>>()
    );
    for item in &crds {
        assert_eq!(item["desired"]["channel"], "standard", "{item}");
        assert_eq!(item["desired"]["version"], "v1.6.1", "{item}");
        assert!(
            !item["crd"].as_str().unwrap().ends_with("x-k8s.io"),
            "{item}"
        );
    }
    assert!(
        crds.iter()
            .any(|i| i["action"] == "upgrade" && i["reasons"][0]["code"] == "channel-preserved"),
        "{crds:?}"
    );

    // Offline with nothing cached for v1.6.1 standard: kept, with the reason.
    let out = Command::cargo_bin("crdguard")
        .unwrap()
        .args([
            "plan",
            &source,
            "--snapshot",
            &installed,
            "--offline",
            "-o",
            "json",
        ])
        .env("XDG_CACHE_HOME", temp.path("empty-cache"))
        .env_remove("CRDGUARD_CATALOG_URL")
        .output()
        .unwrap();
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        plan["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["action"] != "upgrade"),
        "{plan}"
    );
    assert!(
        plan["warnings"].to_string().contains("no policy widens"),
        "{}",
        plan["warnings"]
    );
}

/// A `kubectl get crd -o yaml` List of every CRD file in a corpus directory, with the bundle's
/// markers as released.
fn corpus_snapshot(temp: &Temp, name: &str, dir: &str) -> String {
    let mut items = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(corpus(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let value: Value = serde::Deserialize::deserialize(doc).unwrap();
            if !value.is_null() {
                items.push(value);
            }
        }
    }
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
    temp.write(name, &list.to_string())
}

const PROMETHEUS_V0_92_1: &str =
    "large/prometheus-operator/v0.92.1/example/prometheus-operator-crd";
const PROMETHEUS_V0_93_0: &str =
    "large/prometheus-operator/v0.93.0/example/prometheus-operator-crd-full";

#[test]
fn prometheus_operator_is_a_builtin_standard_bundle_never_lowered() {
    let temp = Temp::new("prometheus");
    let old = corpus_snapshot(&temp, "old.json", PROMETHEUS_V0_92_1);
    let new = corpus_snapshot(&temp, "new.json", PROMETHEUS_V0_93_0);
    let plan = |sources: &str, snapshot: &str| {
        let out = crdguard(&[
            "plan",
            &corpus(sources),
            "--snapshot",
            snapshot,
            "-o",
            "json",
        ]);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    // v0.92.1 offered over an installed v0.93.0: kept, every CRD, for being newer.
    let down = plan(PROMETHEUS_V0_92_1, &new);
    let items = down["items"].as_array().unwrap();
    assert!(!items.is_empty());
    for item in items {
        assert_eq!(item["bundle"], "prometheus-operator", "{item}");
        assert_eq!(item["class"], "standard", "{item}");
        assert_eq!(item["action"], "keep", "{item}");
        assert_eq!(item["reasons"][0]["code"], "newer-installed", "{item}");
    }
    // v0.93.0 offered over v0.92.1: upgraded (or blocked by a schema finding), never kept.
    let up = plan(PROMETHEUS_V0_93_0, &old);
    let items = up["items"].as_array().unwrap();
    let upgrading = items
        .iter()
        .filter(|i| i["installed"].is_object())
        .map(|i| {
            assert_eq!(i["bundle"], "prometheus-operator", "{i}");
            assert_eq!(i["installed"]["version"], "v0.92.1", "{i}");
            assert_eq!(i["desired"]["version"], "v0.93.0", "{i}");
            i["action"].as_str().unwrap().to_string()
        })
        .collect::<Vec<_>>();
    assert!(!upgrading.is_empty());
    assert!(
        upgrading.iter().all(|a| a == "upgrade" || a == "blocked"),
        "{upgrading:?}"
    );
    assert!(upgrading.iter().any(|a| a == "upgrade"), "{upgrading:?}");
    // Status names the bundle with its version.
    let out = crdguard(&["status", "--snapshot", &new, "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    let bundle = status["bundles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "prometheus-operator")
        .unwrap_or_else(|| panic!("no prometheus-operator bundle in {status}"));
    assert_eq!(
        bundle["versions"],
        serde_json::json!(["v0.93.0"]),
        "{bundle}"
    );
    assert_eq!(bundle["class"], "standard", "{bundle}");
}

/// The catalog keyed by bundle (issue 13): prometheus-operator CRDs installed without their
/// version annotation (a tool stripped it) are identified by content from the catalog's
/// prometheus-operator data, so an older release offered over them is still kept.
#[test]
fn prometheus_operator_crds_without_their_marker_are_identified_by_content() {
    const PLAIN_V0_93_0: &str = "large/prometheus-operator/v0.93.0/example/prometheus-operator-crd";
    let temp = Temp::new("prometheus-unmarked");
    let marked = corpus_snapshot(&temp, "marked.json", PLAIN_V0_93_0);
    let mut snapshot: Value =
        serde_json::from_str(&std::fs::read_to_string(&marked).unwrap()).unwrap();
    for item in snapshot["items"].as_array_mut().unwrap() {
        let removed = item["metadata"]["annotations"]
            .as_object_mut()
            .unwrap()
            .remove("operator.prometheus.io/version");
        assert!(removed.is_some(), "{}", item["metadata"]["name"]);
    }
    let unmarked = temp.write("unmarked.json", &snapshot.to_string());
    let out = crdguard(&[
        "plan",
        &corpus(PROMETHEUS_V0_92_1),
        "--snapshot",
        &unmarked,
        "-o",
        "json",
    ]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = plan["items"].as_array().unwrap();
    assert_eq!(items.len(), 10);
    for item in items {
        assert_eq!(item["installed"]["version"], "v0.93.0", "{item}");
        assert_eq!(item["action"], "keep", "{item}");
        let codes: Vec<&str> = item["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["code"].as_str())
            .collect();
        assert!(codes.contains(&"identified-by-digest"), "{codes:?}");
    }
}

/// A CRD whose own marker names an older release with the same content, in a bundle that is
/// at the newer one: content places it at the newer release, but the annotated cluster would
/// write the desired marker, so the plan does (SPEC §1: identification never decides what
/// the annotated cluster would not). And a bundle without channels is never given one by
/// content identification.
#[test]
fn an_older_marker_on_identical_content_is_rewritten_and_no_channel_is_invented() {
    const PLAIN_V0_93_0: &str = "large/prometheus-operator/v0.93.0/example/prometheus-operator-crd";
    const RULES: &str = "prometheusrules.monitoring.coreos.com";
    let temp = Temp::new("prometheus-old-marker");
    let marked = corpus_snapshot(&temp, "marked.json", PLAIN_V0_93_0);
    let mut snapshot: Value =
        serde_json::from_str(&std::fs::read_to_string(&marked).unwrap()).unwrap();
    for item in snapshot["items"].as_array_mut().unwrap() {
        if item["metadata"]["name"] == RULES {
            item["metadata"]["annotations"]["operator.prometheus.io/version"] =
                Value::from("0.92.1");
        }
    }
    let relabelled = temp.write("relabelled.json", &snapshot.to_string());
    let out = crdguard(&[
        "plan",
        &corpus(PLAIN_V0_93_0),
        "--snapshot",
        &relabelled,
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    for item in plan["items"].as_array().unwrap() {
        let expected = if item["crd"] == RULES {
            "upgrade"
        } else {
            "unchanged"
        };
        assert_eq!(item["action"], expected, "{item}");
        assert!(item["installed"]["channel"].is_null(), "{item}");
    }
    // Stripped markers: status names the version by content, and no channel.
    for item in snapshot["items"].as_array_mut().unwrap() {
        item["metadata"]["annotations"]
            .as_object_mut()
            .unwrap()
            .remove("operator.prometheus.io/version");
    }
    let stripped = temp.write("stripped.json", &snapshot.to_string());
    let out = crdguard(&["status", "--snapshot", &stripped, "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    let bundle = status["bundles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "prometheus-operator")
        .unwrap_or_else(|| panic!("{status}"));
    assert_eq!(
        bundle["versions"],
        serde_json::json!(["v0.93.0"]),
        "{bundle}"
    );
    assert!(
        bundle["channels"].as_array().is_none_or(|c| c.is_empty()),
        "{bundle}"
    );
}

/// Desired CRDs without their version marker are placed by content too (issue 13's catalog
/// keyed by bundle): stripped v0.93.0 files over an installed v0.92.1 are v0.93.0, so the
/// upgrade they bring is planned instead of the bundle being kept at an unknown version.
#[test]
fn desired_crds_without_their_marker_are_identified_by_content() {
    const PLAIN_V0_93_0: &str = "large/prometheus-operator/v0.93.0/example/prometheus-operator-crd";
    let temp = Temp::new("prometheus-desired-unmarked");
    let installed = corpus_snapshot(&temp, "installed.json", PROMETHEUS_V0_92_1);
    let stripped = temp.path("stripped");
    std::fs::create_dir_all(&stripped).unwrap();
    for entry in std::fs::read_dir(corpus(PLAIN_V0_93_0)).unwrap() {
        let path = entry.unwrap().path();
        let text: String = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .filter(|line| !line.contains("operator.prometheus.io/version"))
            .map(|line| format!("{line}\n"))
            .collect();
        std::fs::write(Path::new(&stripped).join(path.file_name().unwrap()), text).unwrap();
    }
    let out = crdguard(&["plan", &stripped, "--snapshot", &installed, "-o", "json"]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rules = plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["crd"] == "alertmanagerconfigs.monitoring.coreos.com")
        .unwrap();
    assert_eq!(rules["desired"]["version"], "v0.93.0", "{rules}");
    assert_eq!(rules["action"], "upgrade", "{rules}");
    assert!(
        rules["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["code"] == "identified-by-digest"),
        "{rules}"
    );
}

/// Two versions of a small bundle of our own whose version is in a label.
fn labelled_crd(version: &str, extra_field: bool) -> String {
    let extra = if extra_field {
        "\n              color: { type: string }"
    } else {
        ""
    };
    format!(
        "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: certs.pki.example.com
  labels:
    app.kubernetes.io/version: {version}
spec:
  group: pki.example.com
  names: {{ kind: Cert, plural: certs, singular: cert, listKind: CertList }}
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
              name: {{ type: string }}{extra}
"
    )
}

const LABELLED_POLICY: &str = "apiVersion: crdguard.dev/v1alpha1
kind: Policy
metadata: { name: pki }
spec:
  knownBundles:
  - name: pki
    groups: [pki.example.com]
    version: { label: app.kubernetes.io/version }
    channel: null
";

#[test]
fn a_policy_defined_bundle_with_a_label_version_behaves_like_a_builtin_one() {
    let temp = Temp::new("labelled");
    let policy = temp.write("crdguard.yaml", LABELLED_POLICY);
    let old = temp.write("old.yaml", &labelled_crd("v1.1.0", false));
    let new = temp.write("new.yaml", &labelled_crd("v1.2.0", true));
    let as_list = |name: &str, crd: &str| {
        let value: Value = serde_yaml_ng::from_str(crd).unwrap();
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [value]});
        temp.write(name, &list.to_string())
    };
    let old_installed = as_list("old-snap.json", &labelled_crd("v1.1.0", false));
    let new_installed = as_list("new-snap.json", &labelled_crd("v1.2.0", true));
    let item = |source: &str, snapshot: &str| {
        let out = crdguard(&[
            "plan",
            source,
            "--snapshot",
            snapshot,
            "--policy",
            &policy,
            "-o",
            "json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
        plan["items"][0].clone()
    };
    let down = item(&old, &new_installed);
    assert_eq!(down["bundle"], "pki", "{down}");
    assert_eq!(down["class"], "standard", "{down}");
    assert_eq!(down["action"], "keep", "{down}");
    assert_eq!(down["reasons"][0]["code"], "newer-installed", "{down}");
    let up = item(&new, &old_installed);
    assert_eq!(up["bundle"], "pki", "{up}");
    assert_eq!(up["action"], "upgrade", "{up}");
    assert_eq!(up["installed"]["version"], "v1.1.0", "{up}");
    // Without the policy the same CRD is the product's own: an extension, changed freely.
    let out = crdguard(&["plan", &old, "--snapshot", &new_installed, "-o", "json"]);
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["items"][0]["class"], "extension", "{plan}");
    assert_ne!(plan["items"][0]["action"], "keep", "{plan}");

    // The guard reads the label too: lowering it is denied.
    let out = crdguard(&["guard", "render", "--policy", &policy]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let guard = stdout(&out);
    assert!(
        guard.contains("pki.example.com") && guard.contains("labels"),
        "{guard}"
    );

    // A knownBundles entry that claims a built-in bundle's group names the field.
    let clash = temp.write(
        "clash.yaml",
        &LABELLED_POLICY.replace("[pki.example.com]", "[monitoring.coreos.com]"),
    );
    let out = crdguard(&[
        "plan",
        &old,
        "--snapshot",
        &new_installed,
        "--policy",
        &clash,
    ]);
    assert_bad_input(
        &out,
        &["spec.knownBundles[0].groups[0]", "prometheus-operator"],
    );
}

/// `--release NAME -n NS` (SPEC §2 Ownership, §3 v2): the CRDs of that Helm release are the
/// user's own; another release's stay `owned-by-other`. The plan says whose it acts as.
#[test]
fn release_flag_makes_that_releases_crds_your_own() {
    let temp = Temp::new("release");
    let snapshot = temp.write(
        "snap.yaml",
        &CRD.replace(
            "metadata:\n  name: widgets.example.com\n",
            "metadata:\n  name: widgets.example.com\n  labels:\n    app.kubernetes.io/managed-by: Helm\n  annotations:\n    meta.helm.sh/release-name: shop\n    meta.helm.sh/release-namespace: apps\n",
        )
        .replace("spec:\n  group", "status:\n  storedVersions: [v1]\nspec:\n  group"),
    );
    let desired = temp.write(
        "widgets.yaml",
        &CRD.replace(
            "openAPIV3Schema: { type: object }",
            "openAPIV3Schema: { type: object, properties: { spec: { type: object } } }",
        ),
    );
    let plan = |extra: &[&str]| {
        let mut args = vec!["plan", desired.as_str(), "--snapshot", snapshot.as_str()];
        args.extend(extra);
        args.extend(["-o", "json"]);
        let out = crdguard(&args);
        let plan: Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
        (out.status.code(), plan)
    };
    let (code, theirs) = plan(&[]);
    assert_eq!(code, Some(1));
    assert_eq!(theirs["items"][0]["action"], "conflict");
    assert_eq!(theirs["items"][0]["reasons"][0]["code"], "owned-by-other");
    assert!(theirs["overrides"].get("release").is_none());

    let (code, mine) = plan(&["--release", "shop", "-n", "apps"]);
    assert_eq!(code, Some(0), "{}", mine["items"]);
    assert_eq!(mine["items"][0]["action"], "upgrade");
    assert_eq!(
        mine["overrides"]["release"],
        serde_json::json!({"name": "shop", "namespace": "apps"})
    );
    let text = stdout(&crdguard(&[
        "plan",
        &desired,
        "--snapshot",
        &snapshot,
        "--release",
        "shop",
        "-n",
        "apps",
    ]));
    assert!(
        text.contains("Helm release shop in namespace apps"),
        "{text}"
    );

    // The same name in another namespace is another release.
    let (code, other) = plan(&["--release", "shop", "-n", "default"]);
    assert_eq!(code, Some(1));
    assert_eq!(other["items"][0]["reasons"][0]["code"], "owned-by-other");

    // A namespace alone says nothing: usage error.
    assert_bad_input(
        &crdguard(&["plan", &desired, "--snapshot", &snapshot, "-n", "apps"]),
        &["--release"],
    );
}

/// `--for PRODUCT@VERSION` on plan (SPEC §3 v2): the built-in product policy decides, as a
/// policy file with the same content would; unknown products are bad input; it and
/// `--policy` exclude each other.
#[test]
fn for_flag_plans_with_the_builtin_product_policy() {
    let snapshot = corpus("gateway-api/v1.2.1/standard-install.yaml");
    let desired = corpus("gateway-api/v1.6.1/standard-install.yaml");
    let plan = |extra: &[&str]| {
        let mut args = vec![
            "plan",
            desired.as_str(),
            "--snapshot",
            snapshot.as_str(),
            "--server-version",
            "v1.33.2",
        ];
        args.extend(extra);
        args.extend(["-o", "json"]);
        let out = crdguard(&args);
        let plan: Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
        (out.status.code(), plan)
    };
    let (_, default) = plan(&[]);
    let (_, product) = plan(&["--for", "envoy-gateway@v1.9"]);
    let shown = crdguard(&["catalog", "show", "envoy-gateway@v1.9", "-o", "json"]);
    let policy: Value = serde_json::from_slice(&shown.stdout).unwrap();
    let minimum = policy["bundles"][0]["minimum"].as_str().unwrap();
    // The product's policy is the one in force: its minimum is checked, the default has none.
    let bundle_check = |plan: &Value| {
        plan["preflight"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "bundle-version")
            .map(|c| c["message"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    assert!(
        bundle_check(&product).contains(minimum),
        "{}",
        bundle_check(&product)
    );
    assert!(
        !bundle_check(&default).contains(minimum),
        "{}",
        bundle_check(&default)
    );
    assert_bad_input(
        &crdguard(&[
            "plan",
            &desired,
            "--snapshot",
            &snapshot,
            "--for",
            "no-such-product@v1",
        ]),
        &["no built-in policy", "envoy-gateway@v1.9"],
    );
    let temp = Temp::new("for-and-policy");
    let file = temp.write(
        "policy.yaml",
        "apiVersion: crdguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec: {}\n",
    );
    assert_bad_input(
        &crdguard(&[
            "plan",
            &desired,
            "--snapshot",
            &snapshot,
            "--for",
            "envoy-gateway@v1.9",
            "--policy",
            &file,
        ]),
        &["--policy", "--for"],
    );
}

/// `crdguard catalog add FILE` (SPEC §8 v2): a release newer than the catalog is first only
/// `catalog-stale`; once its published install file is added (facts shown, kept in the user's
/// cache), references, identification and plans know it. The "new" release is v1.6.1 as
/// released, relabelled v1.7.0, so its content is real.
#[test]
fn catalog_add_records_a_release_the_catalog_lacks() {
    let temp = Temp::new("catalog-add");
    let cache = temp.path("cache");
    let run = |args: &[&str]| {
        Command::cargo_bin("crdguard")
            .unwrap()
            .args(args)
            .env("XDG_CACHE_HOME", &cache)
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap()
    };
    let relabel = |relative: &str| {
        std::fs::read_to_string(corpus(relative))
            .unwrap()
            .replace("bundle-version: v1.6.1", "bundle-version: v1.7.0")
    };
    let released = temp.write(
        "standard-install.yaml",
        &relabel("gateway-api/v1.6.1/as-released/standard-install.yaml"),
    );
    let cluster = temp.write(
        "cluster.yaml",
        &relabel("gateway-api/v1.6.1/standard-install.yaml"),
    );
    let stripped: String = relabel("gateway-api/v1.6.1/standard-install.yaml")
        .lines()
        .filter(|l| !l.contains("gateway.networking.k8s.io/"))
        .map(|l| format!("{l}\n"))
        .collect();
    let stripped = temp.write("stripped.yaml", &stripped);
    let older = corpus("gateway-api/v1.6.1/standard-install.yaml");
    let stale = |out: &Output| {
        let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
        plan["preflight"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["check"] == "catalog-stale")
    };
    let identified = |out: &Output| {
        let status: Value = serde_json::from_slice(&out.stdout).unwrap();
        status["bundles"][0]["versions"].clone()
    };
    let plan_args = ["plan", &older, "--snapshot", &cluster, "-o", "json"];
    let status_args = ["status", "--snapshot", &stripped, "-o", "json"];

    // Before: unknown to references, stale in plans, identified as the newest known release.
    assert_bad_input(
        &run(&["catalog", "show", "gateway-api@v1.7.0"]),
        &["v1.7.0"],
    );
    assert!(stale(&run(&plan_args)));
    assert_eq!(
        identified(&run(&status_args)),
        serde_json::json!(["v1.6.1"])
    );

    // A dry run shows the facts and records nothing.
    let out = run(&["catalog", "add", &released, "--dry-run", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown[0]["action"], "would-add");
    assert_eq!(shown[0]["release"], "v1.7.0");
    assert_eq!(shown[0]["crds"].as_array().unwrap().len(), 10);
    assert!(!Path::new(&cache).exists());

    let out = run(&["catalog", "add", &released]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("v1.7.0/standard") && text.contains("recorded"),
        "{text}"
    );
    assert!(
        text.contains("ValidatingAdmissionPolicy/safe-upgrades"),
        "{text}"
    );

    // After: a known release everywhere.
    let out = run(&["catalog", "show", "gateway-api@v1.7.0", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stale(&run(&plan_args)));
    assert_eq!(
        identified(&run(&status_args)),
        serde_json::json!(["v1.7.0"])
    );
    // Adding it again records nothing; a file that claims a known release with other content
    // is refused, and so is a broken cache entry.
    let again: Value =
        serde_json::from_slice(&run(&["catalog", "add", &released, "-o", "json"]).stdout).unwrap();
    assert_eq!(again[0]["action"], "already-known");
    let impostor = temp.write(
        "impostor.yaml",
        &std::fs::read_to_string(corpus("gateway-api/v1.5.1/standard-install.yaml"))
            .unwrap()
            .replace("bundle-version: v1.5.1", "bundle-version: v1.6.1"),
    );
    assert_bad_input(
        &run(&["catalog", "add", &impostor]),
        &["impostor.yaml", "v1.6.1/standard", "other CRD content"],
    );

    // prometheus-operator publishes one file per CRD: the files of a release given together
    // (here as their directory) are one release of 10 CRDs, recorded beside the Gateway API's
    // v1.7.0 although it has the same tag.
    let files = temp.path("prometheus-v1.7.0");
    std::fs::create_dir_all(&files).unwrap();
    let released_dir = corpus("large/prometheus-operator/v0.93.0/example/prometheus-operator-crd");
    for entry in std::fs::read_dir(&released_dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap().replace(
            "operator.prometheus.io/version: 0.93.0",
            "operator.prometheus.io/version: 1.7.0",
        );
        std::fs::write(Path::new(&files).join(path.file_name().unwrap()), text).unwrap();
    }
    let added: Value =
        serde_json::from_slice(&run(&["catalog", "add", &files, "-o", "json"]).stdout).unwrap();
    assert_eq!(added.as_array().unwrap().len(), 1, "{added}");
    assert_eq!(added[0]["bundle"], "prometheus-operator");
    assert_eq!(added[0]["release"], "v1.7.0");
    assert!(added[0]["channel"].is_null(), "{added}");
    assert_eq!(added[0]["crds"].as_array().unwrap().len(), 10);
    let shown: Value = serde_json::from_slice(
        &run(&[
            "catalog",
            "show",
            "prometheus-operator@v1.7.0",
            "-o",
            "json",
        ])
        .stdout,
    )
    .unwrap();
    assert_eq!(shown["channels"][0]["crds"].as_array().unwrap().len(), 10);
    let out = run(&["catalog", "show", "gateway-api@v1.7.0", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Upstream's own files of a built-in release are known, all of them or some.
    let known: Value = serde_json::from_slice(
        &run(&["catalog", "add", &released_dir, "--dry-run", "-o", "json"]).stdout,
    )
    .unwrap();
    assert_eq!(known[0]["action"], "already-known", "{known}");

    std::fs::write(
        Path::new(&cache).join("crdguard/catalog/added/gateway-api-v1.7.0-standard.json"),
        "{ not json",
    )
    .unwrap();
    assert_bad_input(
        &run(&["catalog", "list"]),
        &["gateway-api-v1.7.0-standard.json", "catalog add"],
    );
}

/// `status` says what each installed companion policy lets through (SPEC §9 v2), by evaluating
/// it: upstream's safe-upgrades policy stops old releases and widening, but lets a step down
/// within v1.5+, experimental → standard, deletes, and the x-k8s.io group through.
#[test]
fn status_says_what_the_safe_upgrades_policy_lets_through() {
    let companion = |release: &str, channel: &str| {
        let out = crdguard(&[
            "status",
            "--snapshot",
            &as_released(release, channel),
            "-o",
            "json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let status: Value = serde_json::from_slice(&out.stdout).unwrap();
        status["bundles"][0]["companions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| {
                c["object"] == "ValidatingAdmissionPolicy/safe-upgrades.gateway.networking.k8s.io"
            })
            .cloned()
            .unwrap()
    };
    let list = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let experimental = companion("v1.6.1", "experimental");
    let lets = list(&experimental["letsThrough"]);
    for write in [
        "lowering v1.6.1 → v1.6.0",
        "experimental → standard",
        "deleting a gateway.networking.k8s.io CRD",
        "lowering a gateway.networking.x-k8s.io CRD v1.6.1 → v1.6.0",
    ] {
        assert!(lets.iter().any(|l| l == write), "{write} not in {lets:?}");
    }
    assert_eq!(list(&experimental["stops"]), ["lowering v1.6.1 → v1.0.0"]);
    let standard = companion("v1.6.1", "standard");
    assert!(
        list(&standard["stops"]).contains(&"standard → experimental".to_string()),
        "{standard}"
    );
    let text = stdout(&crdguard(&[
        "status",
        "--snapshot",
        &as_released("v1.6.1", "experimental"),
    ]));
    assert!(
        text.contains("LETS THROUGH") && text.contains("experimental → standard"),
        "{text}"
    );
}

/// `crdguard explain` (SPEC §3): the plan's item in full. Its JSON item is the plan's item, its
/// table is SPEC §2 row by row (one row decides; every row that also blocks is one of the
/// item's reasons), and the item is found by full name, by plural, or as Kind/name.
#[test]
fn explain_shows_one_items_whole_decision() {
    let args = |item: &str| -> Vec<String> {
        vec![
            "explain".into(),
            item.into(),
            corpus("gateway-api/v1.6.1/as-released/experimental-install.yaml"),
            "--snapshot".into(),
            corpus("gateway-api/v0.5.0/as-released/experimental-install.yaml"),
            "--server-version".into(),
            "v1.36.3".into(),
        ]
    };
    let run = |item: &str, more: &[&str]| {
        let mut all = args(item);
        all.extend(more.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        crdguard(&refs)
    };
    let out = run(HTTP_ROUTES, &["-o", "json"]);
    let explained: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(explained["kind"], "Explanation");
    let item = &explained["item"];
    assert_eq!(item["crd"], HTTP_ROUTES);
    assert_eq!(out.status.code(), Some(1), "a blocked item exits 1");
    assert_eq!(item["action"], "blocked");

    // The same item as in the plan of the same inputs.
    let mut plan_args = args(HTTP_ROUTES);
    plan_args[0] = "plan".into();
    plan_args.remove(1);
    plan_args.extend(["-o".into(), "json".into()]);
    let refs: Vec<&str> = plan_args.iter().map(String::as_str).collect();
    let plan: Value = serde_json::from_slice(&crdguard(&refs).stdout).unwrap();
    let in_plan = plan_item(&plan, HTTP_ROUTES);
    assert_eq!(item, in_plan);

    // Every row of the table, numbered as in SPEC §2; exactly one decides, with the item's
    // first reason; each row that also blocks gives one of the item's reasons.
    let rows = explained["rules"].as_array().unwrap();
    // SPEC §2's fourteen rows and §12's gate after row 9.
    assert_eq!(rows.len(), 15);
    assert!(rows.iter().enumerate().all(|(i, r)| r["row"] == i + 1));
    let deciding: Vec<&Value> = rows.iter().filter(|r| r["outcome"] == "decides").collect();
    assert_eq!(deciding.len(), 1, "{rows:?}");
    assert_eq!(deciding[0]["action"], "blocked");
    assert_eq!(
        deciding[0]["reasons"][0]["code"], item["reasons"][0]["code"],
        "{rows:?}"
    );
    let item_codes: Vec<&Value> = item["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["code"])
        .collect();
    let also: Vec<&Value> = rows
        .iter()
        .filter(|r| r["outcome"] == "also-blocks")
        .collect();
    assert!(!also.is_empty(), "{rows:?}");
    for row in also {
        assert!(item_codes.contains(&&row["reasons"][0]["code"]), "{row}");
    }
    assert_eq!(explained["bundle"]["name"], "gateway-api");

    // The table for people: each rule by name, and infos listed (the plan only counts them).
    let out = run("httproutes", &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1));
    for row in rows {
        assert!(
            text.contains(row["rule"].as_str().unwrap()),
            "{} missing: {text}",
            row["rule"]
        );
    }
    let infos = item["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "info")
        .count();
    assert!(infos > 0);
    assert_eq!(
        text.lines()
            .filter(|l| l.split_whitespace().next() == Some("info"))
            .count(),
        infos,
        "{text}"
    );
    assert!(text.contains("Verdict for this item: BLOCKED"), "{text}");

    // A companion follows its bundle: no rows of its own.
    let companion = "ValidatingAdmissionPolicy/safe-upgrades.gateway.networking.k8s.io";
    let out = run(companion, &["-o", "json"]);
    let explained: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(explained["item"]["crd"], companion);
    assert_eq!(explained["rules"], serde_json::json!([]));

    // An item the plan does not have: bad input with the closest name.
    let out = run("httproute.gateway.networking.k8s.io", &[]);
    assert_bad_input(&out, &["no item", "did you mean", HTTP_ROUTES]);
}

/// Gateway API v1.5.1 standard as a cluster would show it, each CRD carrying `requirements`
/// in `crdguard.dev/requirements` (SPEC §12).
fn cluster_with_requirements(temp: &Temp, requirements: &Value) -> String {
    cluster_at_with_requirements(temp, &as_released("v1.5.1", "standard"), requirements)
}

/// The CRDs of `install_file` as a cluster would show them, each carrying `requirements`.
fn cluster_at_with_requirements(temp: &Temp, install_file: &str, requirements: &Value) -> String {
    let text = std::fs::read_to_string(install_file).unwrap();
    let mut items = installed_crds(&text);
    for object in &mut items {
        object["metadata"]["annotations"]["crdguard.dev/requirements"] =
            Value::String(requirements.to_string());
    }
    let list = serde_json::json!({
        "apiVersion": "v1", "kind": "List",
        "metadata": { "annotations": { "crdguard.dev/server-version": "v1.36.3" } },
        "items": items,
    });
    temp.write("cluster.json", &list.to_string())
}

/// SPEC §12, served versions: Gateway API v1.2.0 stops serving GRPCRoute and ReferenceGrant
/// v1alpha2. A product that recorded that it reads GRPCRoute v1alpha2 (a policy's
/// `servedVersions`) blocks the upgrade of the GRPCRoute CRD, naming the kind and version; the
/// ReferenceGrant CRD, whose v1alpha2 it does not read, is upgraded. A policy whose
/// `servedVersions` names a kind the bundle lacks, or something that is not an API version, is bad
/// input naming the field.
#[test]
fn served_versions_another_product_reads_stay_served() {
    let temp = Temp::new("served-versions");
    let reader = serde_json::json!([{
        "product": "old-gateway", "version": "0.9.0", "kinds": ["GRPCRoute"],
        "servedVersions": { "GRPCRoute": ["v1alpha2"] }
    }]);
    let installed = corpus("gateway-api/v1.1.1/experimental-install.yaml");
    let snapshot = cluster_at_with_requirements(&temp, &installed, &reader);
    let desired = corpus("gateway-api/v1.2.0/experimental-install.yaml");
    let out = crdguard(&["plan", &desired, "--snapshot", &snapshot, "-o", "json"]);
    let plan: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    assert_eq!(out.status.code(), Some(1), "{}", plan["summary"]);
    let grpc = plan_item(&plan, "grpcroutes.gateway.networking.k8s.io");
    assert_eq!(grpc["action"], "blocked", "{grpc}");
    assert_eq!(grpc["reasons"][0]["code"], "breaks-other-product", "{grpc}");
    let message = grpc["reasons"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("old-gateway 0.9.0") && message.contains("reads GRPCRoute v1alpha2"),
        "{message}"
    );
    let grants = plan_item(&plan, "referencegrants.gateway.networking.k8s.io");
    assert!(
        !grants["reasons"]
            .to_string()
            .contains("breaks-other-product"),
        "{grants}"
    );

    // The entry a policy records carries its servedVersions.
    let policy = |served: &str| {
        temp.write(
            "reader.yaml",
            &format!(
                "apiVersion: crdguard.dev/v1alpha1\nkind: Policy\nmetadata: {{name: reader}}\n\
                 spec:\n  bundles:\n  - name: gateway-api\n    servedVersions: {served}\n"
            ),
        )
    };
    let good = policy("{GRPCRoute: [v1alpha2, v1], HTTPRoute: [v1]}");
    let out = crdguard(&[
        "plan",
        &desired,
        "--snapshot",
        &snapshot,
        "--policy",
        &good,
        "-o",
        "json",
    ]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    for (served, words) in [
        (
            "{GRPCRoutes: [v1]}",
            &["servedVersions.GRPCRoutes", "did you mean \"GRPCRoute\""][..],
        ),
        (
            "{GRPCRoute: [v1.2]}",
            &["servedVersions.GRPCRoute", "not a Kubernetes API version"][..],
        ),
    ] {
        let bad = policy(served);
        let out = crdguard(&["plan", &desired, "--snapshot", &snapshot, "--policy", &bad]);
        assert_eq!(out.status.code(), Some(2), "{served}: {}", stderr(&out));
        let message = stderr(&out);
        for word in words {
            assert!(message.contains(word), "{served}: {message}");
        }
    }
}

/// SPEC §12: what another product recorded on the bundle is honoured by every plan. Istio
/// recorded a hard maximum of v1.5.1: a plan to v1.6.1 is blocked, naming Istio and the
/// maximum, with the way forward; `status` lists the entry; Istio's own plan replaces its own
/// entry instead of tripping on it; a tested maximum alone is a preflight warning.
#[test]
fn requirements_recorded_by_other_products_are_honoured() {
    let temp = Temp::new("requirements");
    let istio = serde_json::json!([{
        "product": "istio", "version": "1.28.0", "minimum": "v1.4.0", "maximum": "v1.5.1",
        "channel": "standard", "kinds": ["Gateway", "HTTPRoute"]
    }]);
    let snapshot = cluster_with_requirements(&temp, &istio);
    let plan_to_v161 = |extra: &[&str]| {
        let source = as_released("v1.6.1", "standard");
        let mut args = vec!["plan", source.as_str(), "--snapshot", snapshot.as_str()];
        args.extend(extra);
        args.extend(["-o", "json"]);
        let out = crdguard(&args);
        let plan: Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
        (out.status.code(), plan)
    };
    let (code, plan) = plan_to_v161(&[]);
    assert_eq!(code, Some(1), "{}", plan["summary"]);
    let routes = plan_item(&plan, HTTP_ROUTES);
    assert_eq!(routes["action"], "blocked", "{routes}");
    assert_eq!(routes["reasons"][0]["code"], "breaks-other-product");
    let message = routes["reasons"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("istio 1.28.0") && message.contains("at most v1.5.1"),
        "{message}"
    );
    assert!(
        message.contains("crdguard requirements remove istio"),
        "{message}"
    );
    // Nothing of the bundle is written: every CRD of the release breaks the maximum.
    assert_eq!(plan["summary"]["upgrade"], 0, "{}", plan["summary"]);

    let status = crdguard(&["status", "--snapshot", &snapshot, "-o", "json"]);
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["bundles"][0]["requirements"], istio, "{status}");
    let table = stdout(&crdguard(&["status", "--snapshot", &snapshot]));
    assert!(
        table
            .lines()
            .any(|l| l.contains("istio 1.28.0") && l.contains("v1.5.1")),
        "{table}"
    );

    // Istio's own newer policy replaces its entry: the old maximum is not held against it.
    let policy = temp.write(
        "istio.yaml",
        "apiVersion: crdguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: istio, version: 1.29.0}\nspec:\n  bundles:\n  - name: gateway-api\n    minimum: v1.5.0\n",
    );
    let breaks = |plan: &Value| {
        plan["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["reasons"].to_string().contains("breaks-other-product"))
            .count()
    };
    let (_, plan) = plan_to_v161(&["--policy", &policy]);
    assert_eq!(breaks(&plan), 0, "{}", plan["items"]);
    assert!(plan["summary"]["upgrade"].as_u64().unwrap() > 0);

    // A tested maximum only warns, in the preflight.
    let tested = serde_json::json!([{
        "product": "istio", "version": "1.28.0", "testedMaximum": "v1.5.1", "kinds": []
    }]);
    let temp2 = Temp::new("requirements-tested");
    let snapshot = cluster_with_requirements(&temp2, &tested);
    let source = as_released("v1.6.1", "standard");
    let out = crdguard(&["plan", &source, "--snapshot", &snapshot, "-o", "json"]);
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(breaks(&plan), 0, "{}", plan["items"]);
    let warned = plan["preflight"].as_array().unwrap().iter().any(|c| {
        c["check"] == "other-products"
            && c["status"] == "warn"
            && c["message"]
                .as_str()
                .unwrap_or("")
                .contains("tested maximum v1.5.1")
    });
    assert!(warned, "{}", plan["preflight"]);

    // An annotation crdguard cannot read is a cluster state, not bad input: what other products
    // need is unknown, so writes to the bundle are blocked, naming the CRD and the repair.
    let temp3 = Temp::new("requirements-unreadable");
    let snapshot = cluster_with_requirements(&temp3, &Value::String("not a list".into()));
    let out = crdguard(&["plan", &source, "--snapshot", &snapshot, "-o", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let routes = plan_item(&plan, HTTP_ROUTES);
    assert_eq!(
        routes["reasons"][0]["code"], "requirements-unreadable",
        "{routes}"
    );
    let why = routes["reasons"][0]["message"].as_str().unwrap();
    assert!(
        why.contains("kubectl annotate crd") && why.contains("crdguard.dev/requirements-"),
        "{why}"
    );
}

/// SPEC §1: the installed bundle is the newest release consistent with every CRD. Upstream's
/// v0.8.1 CRDs all say v0.8.0, and only Gateway changed: the bundle is v0.8.1, not a skew of
/// v0.8.0 and v0.8.1. A real v0.8.0 stays v0.8.0.
#[test]
fn a_release_whose_crds_carry_the_previous_label_is_one_release() {
    for (release, expected) in [("v0.8.1", "v0.8.1"), ("v0.8.0", "v0.8.0")] {
        for channel in ["standard", "experimental"] {
            let snapshot = corpus(&format!("gateway-api/{release}/{channel}-install.yaml"));
            let out = crdguard(&["status", "--snapshot", &snapshot, "-o", "json"]);
            let status: Value = serde_json::from_slice(&out.stdout).unwrap();
            let bundle = &status["bundles"][0];
            assert_eq!(
                bundle["versions"],
                serde_json::json!([expected]),
                "{release} {channel}: {bundle}"
            );
            assert_eq!(bundle["skew"], false, "{release} {channel}: {bundle}");
        }
    }
}

/// A cluster that mixes channels (v1.4.1: the standard kinds from the standard file, the
/// experimental-only kinds from the experimental one) and sources of v1.6.1 experimental,
/// without a policy that widens: each CRD keeps its channel. The standard kinds are upgraded to
/// the catalog's standard release of v1.6.1, the experimental-only kinds to the experimental
/// one; none is left at v1.4.1 and none is narrowed or widened.
#[test]
fn a_cluster_that_mixes_channels_keeps_each_crds_channel() {
    let temp = Temp::new("mixed-channels");
    let standard =
        std::fs::read_to_string(corpus("gateway-api/v1.4.1/standard-install.yaml")).unwrap();
    let experimental =
        std::fs::read_to_string(corpus("gateway-api/v1.4.1/experimental-install.yaml")).unwrap();
    let mut items: Vec<Value> = Vec::new();
    let mut standard_names = Vec::new();
    for (text, channel) in [(&standard, "standard"), (&experimental, "experimental")] {
        for crd in installed_crds(text) {
            let name = crd["metadata"]["name"].as_str().unwrap().to_string();
            if channel == "experimental" && standard_names.contains(&name) {
                continue;
            }
            if channel == "standard" {
                standard_names.push(name);
            }
            items.push(crd);
        }
    }
    let snapshot = temp.write(
        "mixed.json",
        &serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string(),
    );
    let url = serve_corpus(1);
    let out = Command::cargo_bin("crdguard")
        .unwrap()
        .args([
            "plan",
            &corpus("gateway-api/v1.6.1/experimental-install.yaml"),
            "--snapshot",
            &snapshot,
            "--server-version",
            "v1.34.0",
            "--catalog-url",
            &url,
            "--allow-breaking",
            "-o",
            "json",
        ])
        .env("XDG_CACHE_HOME", temp.path("cache"))
        .env_remove("CRDGUARD_CATALOG_URL")
        .output()
        .unwrap();
    let plan: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    for name in &standard_names {
        let i = plan_item(&plan, name);
        assert_eq!(i["action"], "upgrade", "{i}");
        assert_eq!(i["desired"]["channel"], "standard", "{i}");
        assert_eq!(i["desired"]["version"], "v1.6.1", "{i}");
    }
    let tcp = plan_item(&plan, "tcproutes.gateway.networking.k8s.io");
    assert_eq!(tcp["action"], "upgrade", "{tcp}");
    assert_eq!(tcp["desired"]["channel"], "experimental", "{tcp}");
}

/// A CRD of a kind upstream removed (BackendLBPolicy: experimental v1.1.0 to v1.2.1 only) left
/// next to a bundle at the product's minimum: no release can bring it there and crdguard never
/// deletes it, so it must not hold the bundle below the minimum forever; a warning names it.
#[test]
fn a_retired_kind_left_installed_does_not_hold_the_bundle_below_the_minimum() {
    let temp = Temp::new("retired-kind");
    let old =
        std::fs::read_to_string(corpus("gateway-api/v1.1.0/experimental-install.yaml")).unwrap();
    let retired = old
        .split("\n---")
        .find(|doc| doc.contains("name: backendlbpolicies.gateway.networking.k8s.io"))
        .expect("v1.1.0 experimental has BackendLBPolicy");
    let retired = temp.write("retired.yaml", retired);
    let current = corpus("gateway-api/v1.6.1/experimental-install.yaml");
    let snapshot = snapshot_of(
        &temp,
        "cluster.yaml",
        &[current.clone(), retired],
        "v1.34.0",
    );
    let out = crdguard(&[
        "plan",
        &current,
        "--for",
        "envoy-gateway@v1.9",
        "--snapshot",
        &snapshot,
        "-o",
        "json",
    ]);
    let plan: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    let bundle_version = plan["preflight"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "bundle-version")
        .cloned()
        .unwrap_or_default();
    assert_eq!(bundle_version["status"], "pass", "{bundle_version}");
    assert_eq!(out.status.code(), Some(0), "{}", plan["summary"]);
    let text = plan.to_string();
    assert!(
        text.contains("backendlbpolicies.gateway.networking.k8s.io was last released in v1.2.1"),
        "no warning names the retired CRD"
    );
}

/// SPEC §2: an absent CRD of an installed bundle is created in the installed channel, with that
/// release's content. The cluster runs v1.6.1 experimental with HTTPRoute deleted; the source is
/// v1.6.1 standard. HTTPRoute comes back from the experimental release (the catalog's), never
/// as a standard copy next to experimental siblings; without that release it is not added.
#[test]
fn a_missing_kind_is_created_in_the_installed_channel() {
    let temp = Temp::new("missing-kind");
    let experimental =
        std::fs::read_to_string(corpus("gateway-api/v1.6.1/experimental-install.yaml")).unwrap();
    let without_http: Vec<&str> = experimental
        .split("\n---")
        .filter(|doc| !doc.contains("name: httproutes.gateway.networking.k8s.io"))
        .collect();
    let installed = temp.write("installed.yaml", &without_http.join("\n---"));
    let snapshot = snapshot_of(&temp, "cluster.yaml", &[installed], "v1.34.0");
    let standard = corpus("gateway-api/v1.6.1/standard-install.yaml");
    // Each run with its own cache: the first caches the release it fetched.
    let plan_with = |cache: &str, extra: &[&str]| {
        let mut args = vec![
            "plan",
            standard.as_str(),
            "--snapshot",
            &snapshot,
            "-o",
            "json",
        ];
        args.extend_from_slice(extra);
        let out = Command::cargo_bin("crdguard")
            .unwrap()
            .args(&args)
            .env("XDG_CACHE_HOME", temp.path(cache))
            .output()
            .unwrap();
        let plan: Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
        (out.status.code(), plan)
    };
    let url = serve_corpus(1);
    let (code, plan) = plan_with("mirrored", &["--catalog-url", &url]);
    assert_eq!(code, Some(0), "{}", plan["summary"]);
    let http = plan_item(&plan, "httproutes.gateway.networking.k8s.io");
    assert_eq!(http["action"], "create", "{http}");
    assert_eq!(http["desired"]["channel"], "experimental", "{http}");
    assert!(
        !plan.to_string().contains("bundle-skew"),
        "the bundle would mix channels"
    );
    let (code, plan) = plan_with("empty", &["--offline"]);
    assert_eq!(code, Some(0), "{}", plan["summary"]);
    let http = plan_item(&plan, "httproutes.gateway.networking.k8s.io");
    assert_eq!(http["action"], "keep", "{http}");
    assert!(
        plan.to_string()
            .contains("its experimental release could not be had"),
        "no warning says why"
    );
}

/// SPEC §2 v2: taking over CRDs a person's kubectl wrote is an override shown in the plan's
/// table, not only in `explain` or JSON.
#[test]
fn taking_over_from_kubectl_is_shown_in_the_table() {
    let temp = Temp::new("takeover-shown");
    let text = std::fs::read_to_string(corpus("gateway-api/v1.5.1/standard-install.yaml")).unwrap();
    let mut documents = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(&text) {
        let mut crd: Value = serde::Deserialize::deserialize(document).unwrap();
        if crd.is_null() {
            continue;
        }
        crd["metadata"]["managedFields"] = serde_json::json!([{
            "manager": "kubectl", "operation": "Apply",
            "apiVersion": "apiextensions.k8s.io/v1", "fieldsType": "FieldsV1",
            "fieldsV1": { "f:spec": { "f:group": {} } }
        }]);
        documents.push(serde_json::to_string(&crd).unwrap());
    }
    let installed = temp.write("installed.yaml", &documents.join("\n---\n"));
    let snapshot = snapshot_of(&temp, "cluster.yaml", &[installed], "v1.34.0");
    let desired = corpus("gateway-api/v1.6.1/standard-install.yaml");
    // ReferenceGrant's v1.6.1 schema needs --allow-breaking over a snapshot without objects.
    let out = crdguard(&[
        "plan",
        &desired,
        "--snapshot",
        &snapshot,
        "--allow-breaking",
    ]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{table}{}", stderr(&out));
    let grants = table
        .lines()
        .find(|l| l.contains("referencegrants.gateway.networking.k8s.io"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(grants.contains("breaking-change-allowed"), "{grants}");
    let http = table
        .lines()
        .find(|l| l.contains("httproutes.gateway.networking.k8s.io"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        http.contains("upgrade") && http.contains("ownership-taken"),
        "{http}"
    );
}
