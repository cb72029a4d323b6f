//! crdify parity: `crdguard diff` against sigs.k8s.io/crdify v0.5.0 on real upgrades.
//!
//! crdify (the Kubernetes SIG tool that compares two CRDs) is built once by
//! `scripts/crdify/build.sh` (cached under `~/.cache/crdguard-crdify/`, ~2.5 min the first time)
//! and run on every CRD of every upgrade in [`pairs`]: each consecutive Gateway API release in
//! both channels, Envoy Gateway v1.7.5 → v1.8.3 → v1.9.0 (its own CRDs and the Gateway API CRDs
//! its chart bundles) and prometheus-operator v0.92.1 → v0.93.0. crdify compares one CRD at a
//! time, so every file is split into one file per CRD; `crdguard diff` reads the same split files
//! (one directory per side), with no server version and again with `--server-version v1.33.0`.
//!
//! # Counterpart
//! Every crdify **error** must have a counterpart in crdguard's findings (without a server
//! version): a finding of severity `error` or `warning`, for the same CRD and API version, of a
//! check that [`VALIDATIONS`] (or, for crdify's catch-all `unhandled`, [`KEYWORDS`] per changed
//! schema keyword) maps the crdify validation to, at the same path once both tools' path
//! spellings are normalised ([`crdguard_key`]):
//! - crdify's `required` error names the parent object; crdguard's `required-field-added` names
//!   the field: each listed field must have one.
//! - A crdguard `field-removed` covers every crdify error at that path and below (crdify reports
//!   each field of a removed subtree, and compares a removed field's schema with an empty one).
//! - For keyword changes crdguard reports below the node (`allOf`/`anyOf`/`oneOf`/`not`
//!   branches, `additionalProperties`) any finding at the node or under it counts.
//! - crdify's served-version validator (older → newer served version of the new CRD) maps to
//!   crdguard's `served-versions-incompatible` at the newer version, for the same older version,
//!   whose inner check (in its message) maps as above.
//!
//! A crdify error without a counterpart is accepted only as one of the documented disagreements:
//! - the version is not served by the new CRD (crdguard compares served versions only),
//! - crdguard reports the same change at the same place as `info`, with a reason in
//!   [`INFO_BY_DESIGN`] (e.g. a removed CEL rule only loosens),
//! - an entry of [`KNOWN_GAPS`] (expected exactly: a gap that goes away fails too, so the list
//!   stays true).
//!
//! Anything else fails the test. The other direction: every crdguard `error` with no crdify error
//! at the same CRD, version and path needs a reason in [`CRDGUARD_ONLY`].
//!
//! The whole comparison is rendered into `docs/crdify-parity.md`, which must match the committed
//! file: `CRDGUARD_BLESS=1 cargo test -p crdguard --test crdify_parity` (or
//! `scripts/crdify/compare.sh`) rewrites it after an intended change.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected input

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

const DOC: &str = "docs/crdify-parity.md";
const CRDIFY_VERSION: &str = "v0.5.0";
/// The server version of the second crdguard run: ratcheting is GA (always on) from 1.33.
const RATCHETING_SERVER: &str = "v1.33.0";

/// crdify's configuration for the comparison. Two of its defaults contradict SPEC §5 on purpose,
/// so they are set to what crdguard does and reported apart instead of as disagreements:
/// - `description`: crdify's default makes any description change an error; SPEC §5 makes
///   description-only changes `info`. As `Warn` they are counted (the summary shows how many).
/// - `enum` `additionPolicy`: crdify's default (`Disallow`) makes a new enum value an error;
///   SPEC §5 makes it `info` (`enum-value-added`): a new value breaks no stored object.
///
/// Everything else keeps crdify's defaults: every validation `Error`, `unhandledEnforcement:
/// Error` (any schema change no validation handled), `conversion: None`.
const CRDIFY_CONFIG: &str = "\
validations:
  - name: description
    enforcement: Warn
  - name: enum
    enforcement: Error
    configuration:
      additionPolicy: Allow
";

/// crdify validation → the crdguard checks that are its counterpart. The one place the two
/// tools' names meet (with [`KEYWORDS`] for crdify's `unhandled`).
const VALIDATIONS: &[(&str, &[&str])] = &[
    ("scope", &["scope-changed"]),
    ("storedVersionRemoval", &["stored-version-removed"]),
    ("existingFieldRemoval", &["field-removed"]),
    (
        "default",
        &["default-added", "default-changed", "default-removed"],
    ),
    (
        "enum",
        &[
            "enum-added",
            "enum-value-removed",
            "enum-removed",
            "enum-value-added",
        ],
    ),
    ("maximum", &["maximum-tightened", "maximum-loosened"]),
    ("maxItems", &["max-items-tightened", "max-items-loosened"]),
    (
        "maxLength",
        &["max-length-tightened", "max-length-loosened"],
    ),
    (
        "maxProperties",
        &["max-properties-tightened", "max-properties-loosened"],
    ),
    ("minimum", &["minimum-tightened", "minimum-loosened"]),
    ("minItems", &["min-items-tightened", "min-items-loosened"]),
    (
        "minLength",
        &["min-length-tightened", "min-length-loosened"],
    ),
    (
        "minProperties",
        &["min-properties-tightened", "min-properties-loosened"],
    ),
    ("required", &["required-field-added"]),
    ("type", &["type-changed", "int-or-string-changed"]),
    ("description", &["description-changed"]),
];

/// Any crdguard check at the node (or, with [`UNDER`], below it) is a counterpart.
const ANY: &[&str] = &["*"];
/// Marks keywords whose changes crdguard reports below the node (map values).
const UNDER: &[&str] = &["*", "under"];

/// crdify's `unhandled` validation reports any other difference of a schema node as a
/// `cmp.Diff` of two `JSONSchemaProps`; the changed Go field names map to crdguard checks here.
const KEYWORDS: &[(&str, &[&str])] = &[
    ("Format", &["format-changed"]),
    ("Pattern", &["pattern-changed"]),
    (
        "ExclusiveMaximum",
        &["maximum-tightened", "maximum-loosened"],
    ),
    (
        "ExclusiveMinimum",
        &["minimum-tightened", "minimum-loosened"],
    ),
    (
        "UniqueItems",
        &["unique-items-added", "unique-items-removed"],
    ),
    ("MultipleOf", &["multiple-of-changed"]),
    ("Nullable", &["nullable-removed", "nullable-added"]),
    (
        "XPreserveUnknownFields",
        &[
            "preserve-unknown-fields-removed",
            "preserve-unknown-fields-added",
        ],
    ),
    ("XEmbeddedResource", &["embedded-resource-changed"]),
    ("XIntOrString", &["int-or-string-changed"]),
    ("XListMapKeys", &["list-map-keys-changed"]),
    ("XListType", &["list-type-changed"]),
    ("XMapType", &["map-type-changed"]),
    (
        "XValidations",
        &[
            "validation-rule-added",
            "validation-rule-changed",
            "validation-rule-removed",
        ],
    ),
    ("Title", &["description-changed"]),
    ("Example", &["description-changed"]),
    ("ExternalDocs", &["description-changed"]),
    ("AllOf", ANY),
    ("AnyOf", ANY),
    ("OneOf", ANY),
    ("Not", ANY),
    ("PatternProperties", ANY),
    ("AdditionalProperties", UNDER),
    ("AdditionalItems", &["unhandled-change"]),
    ("Dependencies", &["unhandled-change"]),
    ("Definitions", &["unhandled-change"]),
    ("ID", &["unhandled-change"]),
    ("Schema", &["unhandled-change"]),
    ("Ref", &["unhandled-change"]),
];

/// crdguard checks that may be `info` where crdify reports an error, and why that is right.
/// Only these explain a crdify error whose counterpart crdguard reports as `info`.
const INFO_BY_DESIGN: &[(&str, &str)] = &[
    (
        "enum-removed",
        "the enum is dropped altogether, so every value it allowed is still accepted; crdify's `enum` validation counts the dropped values as removed values",
    ),
    (
        "validation-rule-removed",
        "a CEL rule (`x-kubernetes-validations`) that is removed only accepts more; crdify does not analyse CEL rules and reports any change as `unhandled`",
    ),
    (
        "validation-rule-changed",
        "only the rule's message (or messageExpression/reason/fieldPath) changed, not what it accepts",
    ),
    (
        "pattern-changed",
        "the pattern is removed: any string is accepted now",
    ),
    (
        "format-changed",
        "the format is removed: any string is accepted now",
    ),
    (
        "nullable-added",
        "`nullable: true` added: null is accepted (instead of pruned)",
    ),
    (
        "preserve-unknown-fields-added",
        "unknown fields are kept instead of pruned: accepts more",
    ),
    ("unique-items-removed", "duplicates are accepted now"),
    (
        "required-field-removed",
        "a field that is no longer required accepts more",
    ),
    (
        "description-changed",
        "documentation only (`title`, `example`, `externalDocs`, `description`)",
    ),
    (
        "field-added",
        "a new optional field (here inside a map value or composition branch that crdify reports as a whole)",
    ),
    (
        "maximum-loosened",
        "the limit is raised or removed: accepts more",
    ),
    (
        "minimum-loosened",
        "the limit is lowered or removed: accepts more",
    ),
    (
        "max-length-loosened",
        "the limit is raised or removed: accepts more",
    ),
    (
        "min-length-loosened",
        "the limit is lowered or removed: accepts more",
    ),
    (
        "max-items-loosened",
        "the limit is raised or removed: accepts more",
    ),
    (
        "min-items-loosened",
        "the limit is lowered or removed: accepts more",
    ),
    (
        "enum-value-added",
        "a new enum value breaks no stored object (SPEC §5; crdify's additionPolicy Allow)",
    ),
    ("all-of-changed", "the `allOf` change only loosens"),
    ("any-of-changed", "the `anyOf` change only loosens"),
    ("one-of-changed", "the `oneOf` change only loosens"),
    ("not-changed", "the `not` change only loosens"),
    (
        "additional-properties-changed",
        "`additionalProperties` loosened",
    ),
    (
        "items-changed",
        "list entries lose their schema: accepts more",
    ),
];

/// Why crdguard reports an `error` that crdify does not. Every crdguard-only error needs one.
const CRDGUARD_ONLY: &[(&str, &str)] = &[
    (
        "served-version-removed",
        "crdify checks only the removal of versions listed in the old CRD's `status.storedVersions` (`storedVersionRemoval`), which a file does not have; crdguard reports a version that stops being served (clients of it break) and, offline, treats the installed storage version as stored",
    ),
    (
        "stored-version-removed",
        "crdify's `storedVersionRemoval` reads `status.storedVersions`, which release files do not carry; offline crdguard assumes the installed CRD's storage version is stored",
    ),
    (
        "storage-version-changed",
        "crdify does not compare storage versions; SPEC §5 makes moving the storage version to a version the installed CRD does not define an error",
    ),
    (
        "subresource-removed",
        "crdify compares schemas and scope only, not subresources; removing one (here `status`) changes the API clients and controllers write through",
    ),
];

/// Expected crdify errors that crdguard misses: (pair, CRD, version, path, crdify validation,
/// why). Checked exactly: none today. The last one (CEL rules a newer served version adds,
/// TLSRoute `.spec.hostnames`) was closed by keeping the served-version walk's warnings.
const KNOWN_GAPS: &[(&str, &str, &str, &str, &str, &str)] = &[];

// ------------------------------------------------------------------------------------ inputs

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn corpus() -> PathBuf {
    repo().join("../shared/corpus")
}

/// One upgrade: the CRD files of the old and of the new release.
struct Pair {
    /// e.g. `gateway-api standard v1.0.0 → v1.1.0`
    name: String,
    old: Vec<PathBuf>,
    new: Vec<PathBuf>,
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no CRD files in {}", dir.display());
    files
}

fn semver_key(tag: &str) -> Vec<u64> {
    tag.trim_start_matches('v')
        .split('.')
        .map(|n| n.parse().unwrap())
        .collect()
}

fn pairs() -> Vec<Pair> {
    let c = corpus();
    let mut tags: Vec<String> = std::fs::read_dir(c.join("gateway-api"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|t| t.starts_with('v'))
        .collect();
    tags.sort_by_key(|t| semver_key(t));
    assert!(
        tags.len() >= 21,
        "Gateway API releases in the corpus: {tags:?}"
    );
    let mut pairs = Vec::new();
    for channel in ["standard", "experimental"] {
        for w in tags.windows(2) {
            let file = |tag: &str| c.join(format!("gateway-api/{tag}/{channel}-install.yaml"));
            pairs.push(Pair {
                name: format!("gateway-api {channel} {} → {}", w[0], w[1]),
                old: vec![file(&w[0])],
                new: vec![file(&w[1])],
            });
        }
    }
    // Envoy Gateway: the chart's CRDs (its own under generated/, and the Gateway API CRDs it
    // bundles). v1.8 moved them into the `crds` subchart.
    let eg = |tag: &str| {
        let dir = if tag == "v1.7.5" {
            c.join("envoy-gateway/v1.7.5/charts/gateway-helm/crds")
        } else {
            c.join(format!(
                "envoy-gateway/{tag}/charts/gateway-helm/charts/crds/crds"
            ))
        };
        let mut files = vec![dir.join("gatewayapi-crds.yaml")];
        files.extend(yaml_files(&dir.join("generated")));
        files
    };
    for (old, new) in [("v1.7.5", "v1.8.3"), ("v1.8.3", "v1.9.0")] {
        pairs.push(Pair {
            name: format!("envoy-gateway {old} → {new}"),
            old: eg(old),
            new: eg(new),
        });
    }
    let prom = |tag: &str| {
        yaml_files(&c.join(format!(
            "large/prometheus-operator/{tag}/example/prometheus-operator-crd"
        )))
    };
    pairs.push(Pair {
        name: "prometheus-operator v0.92.1 → v0.93.0".into(),
        old: prom("v0.92.1"),
        new: prom("v0.93.0"),
    });
    pairs
}

/// One CRD document, as written in its file.
struct CrdDoc {
    text: String,
    /// (name, served) of `spec.versions`.
    versions: Vec<(String, bool)>,
}

/// Splits YAML files into their CRD documents, keyed by CRD name; the text of each document is
/// kept exactly (crdify parses with Go's YAML, crdguard with its own: both get the same bytes).
fn split_crds(files: &[PathBuf]) -> BTreeMap<String, CrdDoc> {
    let mut out = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        let mut docs = vec![String::new()];
        for line in text.split_inclusive('\n') {
            if line.trim_end() == "---" {
                docs.push(String::new());
            } else {
                docs.last_mut().unwrap().push_str(line);
            }
        }
        for doc in docs {
            let value: serde_yaml_ng::Value = match serde_yaml_ng::from_str(&doc) {
                Ok(v) => v,
                Err(e) => panic!("{}: {e}", file.display()),
            };
            if value.get("kind").and_then(|k| k.as_str()) != Some("CustomResourceDefinition") {
                continue;
            }
            let name = value["metadata"]["name"].as_str().unwrap().to_string();
            let versions = value["spec"]["versions"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|v| {
                    (
                        v["name"].as_str().unwrap().to_string(),
                        v["served"].as_bool().unwrap_or(false),
                    )
                })
                .collect();
            let previous = out.insert(
                name.clone(),
                CrdDoc {
                    text: doc,
                    versions,
                },
            );
            assert!(previous.is_none(), "{name} twice in {files:?}");
        }
    }
    out
}

fn parse_yaml(path: &Path) -> Value {
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

// ------------------------------------------------------------------------------------ tools

fn crdify_bin() -> String {
    let started = std::time::Instant::now();
    let out = Command::new(repo().join("scripts/crdify/build.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/crdify/build.sh");
    assert!(out.status.success(), "scripts/crdify/build.sh failed");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "build.sh prints one line: {stdout:?}");
    eprintln!(
        "crdify: {} ({:.1}s)",
        lines[0],
        started.elapsed().as_secs_f64()
    );
    lines[0].to_string()
}

/// crdify's own idea of its version (`crdify version` prints the module version).
fn crdify_version(bin: &str) -> String {
    let out = Command::new(bin).arg("version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("version: "))
        .unwrap_or_else(|| panic!("no version in `crdify version`: {text}"))
        .trim()
        .to_string()
}

/// Runs crdify on one CRD pair; its JSON results (exit 1 means "errors found").
fn run_crdify(bin: &str, config: &Path, old: &Path, new: &Path) -> Value {
    let out = Command::new(bin)
        .arg("--config")
        .arg(config)
        .arg(format!("file://{}", old.display()))
        .arg(format!("file://{}", new.display()))
        .args(["-o", "json"])
        .output()
        .unwrap();
    let code = out.status.code();
    let parsed: Result<Value, _> = serde_json::from_slice(&out.stdout);
    match (code, parsed) {
        (Some(0 | 1), Ok(value)) => value,
        (code, parsed) => panic!(
            "crdify {} {}: exit {code:?}, {parsed:?}\n{}",
            old.display(),
            new.display(),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Runs `crdguard diff OLD NEW -o json [--server-version V]`: its items by CRD name.
fn run_crdguard(old: &Path, new: &Path, server: Option<&str>) -> BTreeMap<String, Vec<Value>> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crdguard"));
    cmd.arg("diff").arg(old).arg(new).args(["-o", "json"]);
    if let Some(v) = server {
        cmd.args(["--server-version", v]);
    }
    let out = cmd.output().unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "crdguard diff: {e}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let errors = json["summary"]["error"].as_u64().unwrap();
    // Exit 1 exactly when there are errors (the contract the comparison relies on).
    assert_eq!(
        out.status.code(),
        Some(i32::from(errors > 0)),
        "crdguard diff exit code with {errors} errors"
    );
    json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            (
                item["crd"].as_str().unwrap().to_string(),
                item["findings"].as_array().unwrap().clone(),
            )
        })
        .collect()
}

// ------------------------------------------------------------------------------------ model

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    /// crdify's CRD validator (`scope`, `existingFieldRemoval`, `storedVersionRemoval`).
    Crd,
    /// Same version, old CRD → new CRD.
    Same,
    /// Served versions of the new CRD, `older` → the error's version.
    Served { older: String },
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct CrdifyError {
    version: String,
    /// Normalised path (`""` is the root).
    key: String,
    validation: String,
    scope: Scope,
    /// Deterministic summary: the message, or the changed keywords of `unhandled`.
    detail: String,
    /// `unhandled`: the changed `JSONSchemaProps` fields; `required`: the new required fields.
    names: Vec<String>,
}

#[derive(Debug, Clone)]
struct Found {
    severity: String,
    check: String,
    version: String,
    path: String,
    key: String,
    /// `served-versions-incompatible`: the older version and the inner check.
    served: Option<(String, String)>,
}

fn parse_found(f: &Value) -> Found {
    let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
    let (check, path, message) = (s("check"), s("path"), s("message"));
    let served = (check == "served-versions-incompatible").then(|| {
        // "served versions A and B share stored objects without conversion, but B is
        // stricter (CHECK: ...)"
        let older = message
            .strip_prefix("served versions ")
            .and_then(|m| m.split(' ').next())
            .unwrap_or_default()
            .to_string();
        let inner = message
            .split_once("is stricter (")
            .and_then(|(_, m)| m.split(':').next())
            .unwrap_or_default()
            .to_string();
        (older, inner)
    });
    Found {
        severity: s("severity"),
        key: crdguard_key(&path),
        check,
        version: s("version"),
        path,
        served,
    }
}

/// A crdguard path in crdify's spelling: map values `.*` → `[*]`, quoted names `["a.b"]` →
/// `.a.b`, composition steps (`(anyOf[1])`, `(patternProperties["re"])`) dropped (crdify keeps
/// the parent's location for them), and the root `.` → `""`.
fn crdguard_key(path: &str) -> String {
    let chars: Vec<char> = path.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' if chars.get(i + 1) == Some(&'*')
                && matches!(chars.get(i + 2), None | Some('.' | '[' | '(')) =>
            {
                out.push_str("[*]");
                i += 2;
            }
            '[' if chars.get(i + 1) == Some(&'"') => {
                // ["name"] (Rust Debug quoting)
                out.push('.');
                i += 2;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    if let Some(c) = chars.get(i) {
                        out.push(*c);
                    }
                    i += 1;
                }
                i += 2; // `"]`
            }
            '(' => {
                let mut depth = 0;
                let mut quoted = false;
                while i < chars.len() {
                    match chars[i] {
                        '\\' if quoted => i += 1,
                        '"' => quoted = !quoted,
                        '(' if !quoted => depth += 1,
                        ')' if !quoted => {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    if out == "." {
        return String::new();
    }
    match out.strip_prefix('.') {
        Some(rest) if rest.starts_with('[') => rest.to_string(),
        _ => out,
    }
}

/// A crdify location (`^.spec.rules[*]`) in the same spelling.
fn crdify_key(location: &str) -> String {
    location.strip_prefix('^').unwrap_or(location).to_string()
}

/// `key` is `ancestor` or below it.
fn is_under(key: &str, ancestor: &str) -> bool {
    key == ancestor
        || key
            .strip_prefix(ancestor)
            .is_some_and(|rest| rest.starts_with(['.', '[']))
}

/// The top-level `JSONSchemaProps` fields a `cmp.Diff` shows as changed. cmp marks lines with
/// `-`/`+` and pads with a space or a no-break space at random (on purpose, so nobody relies
/// on its format), then one tab per nesting level: `-\u{a0}\tPattern: "a",`.
fn changed_fields(diff: &str) -> Vec<String> {
    let mut out = BTreeSet::new();
    let mut current: Option<String> = None;
    let mut whole = false;
    for line in diff.lines() {
        let mut chars = line.chars();
        let marker = chars.next();
        if !matches!(marker, Some('-' | '+' | ' ' | '\u{a0}')) {
            continue;
        }
        chars.next();
        let rest = chars.as_str();
        let changed = matches!(marker, Some('-' | '+'));
        let depth = rest.chars().take_while(|c| *c == '\t').count();
        let body = rest.trim_start_matches('\t');
        if depth == 1 {
            current = body
                .split_once(':')
                .map(|(name, _)| name.trim())
                .filter(|name| name.chars().all(|c| c.is_ascii_alphanumeric()) && !name.is_empty())
                .map(str::to_string);
        }
        if changed {
            match (&current, depth) {
                (_, 0) => whole = true,
                (Some(name), _) => {
                    out.insert(name.clone());
                }
                (None, _) => whole = true,
            }
        }
    }
    if whole && out.is_empty() {
        out.insert("(whole schema)".to_string());
    }
    out.into_iter().collect()
}

/// All crdify errors of one run; counts its warnings (the `description` validation).
fn crdify_errors(result: &Value, warnings: &mut usize) -> Vec<CrdifyError> {
    let mut out = Vec::new();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    for r in result["crdValidation"].as_array().into_iter().flatten() {
        let name = r["name"].as_str().unwrap().to_string();
        *warnings += strings(&r["warnings"]).len();
        for e in strings(&r["errors"]) {
            let (version, key) = match e.strip_prefix("removed field : ") {
                // "removed field : v1.^.spec.foo"
                Some(rest) => {
                    let (v, loc) = rest.split_once('.').unwrap();
                    (v.to_string(), crdify_key(loc))
                }
                None => (String::new(), String::new()),
            };
            out.push(CrdifyError {
                version,
                key,
                validation: name.clone(),
                scope: Scope::Crd,
                detail: e.clone(),
                names: Vec::new(),
            });
        }
    }
    for (field, served) in [
        ("sameVersionValidation", false),
        ("servedVersionValidation", true),
    ] {
        let Some(versions) = result[field].as_object() else {
            continue;
        };
        for (version, props) in versions {
            let (version, scope) = if served {
                let (older, newer) = version.split_once(" -> ").unwrap();
                (
                    newer.to_string(),
                    Scope::Served {
                        older: older.to_string(),
                    },
                )
            } else {
                (version.clone(), Scope::Same)
            };
            for (location, results) in props.as_object().unwrap() {
                for r in results.as_array().unwrap() {
                    let name = r["name"].as_str().unwrap().to_string();
                    *warnings += strings(&r["warnings"]).len();
                    for e in strings(&r["errors"]) {
                        let (detail, names) = match name.as_str() {
                            "unhandled" => {
                                let fields = changed_fields(&e);
                                (format!("changed: {}", fields.join(", ")), fields)
                            }
                            "required" => {
                                // "new required fields: [a b]" (Go set order: sorted here)
                                let mut names: Vec<String> = e
                                    .split_once('[')
                                    .map(|(_, l)| l.trim_end_matches(']'))
                                    .unwrap_or_default()
                                    .split_whitespace()
                                    .map(String::from)
                                    .collect();
                                names.sort();
                                (format!("new required fields: {}", names.join(", ")), names)
                            }
                            _ => (e.clone(), Vec::new()),
                        };
                        let detail = match &scope {
                            Scope::Served { older } => {
                                format!("served versions {older} → {version}: {detail}")
                            }
                            _ => detail,
                        };
                        out.push(CrdifyError {
                            version: version.clone(),
                            key: crdify_key(location),
                            validation: name.clone(),
                            scope: scope.clone(),
                            detail,
                            names,
                        });
                    }
                }
            }
        }
    }
    out.sort();
    out
}

// ------------------------------------------------------------------------------------ matching

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// crdguard's counterparts (check names, with severity).
    Matched(Vec<String>),
    /// The version is not served by the new CRD.
    Unserved,
    /// crdguard reports it as `info` (these checks, all in [`INFO_BY_DESIGN`]).
    Info(Vec<String>),
    /// crdguard reports nothing because the change breaks nothing; checked on the schemas
    /// ([`not_breaking`]).
    Void(Vec<&'static str>),
    /// crdify compared something other than the node (checked on the schemas, [`artifact`]).
    Artifact(Vec<&'static str>),
    /// In [`KNOWN_GAPS`].
    KnownGap(String),
    /// No counterpart and no documented reason: fails the test.
    Gap(String),
}

fn expected_checks(validation: &str) -> &'static [&'static str] {
    VALIDATIONS
        .iter()
        .find(|(v, _)| *v == validation)
        .map_or(&[][..], |(_, checks)| checks)
}

fn keyword_checks(keyword: &str) -> &'static [&'static str] {
    KEYWORDS
        .iter()
        .find(|(k, _)| *k == keyword)
        .map_or(&[][..], |(_, checks)| checks)
}

fn info_reason(check: &str) -> Option<&'static str> {
    INFO_BY_DESIGN
        .iter()
        .find(|(c, _)| *c == check)
        .map(|(_, r)| *r)
}

/// Looks for crdguard findings of `checks` at `key` (`ANY`/`UNDER`: any check, `UNDER`: at the
/// key or below). Matched when one is an error or warning; else the infos' checks.
fn look(found: &[&Found], key: &str, checks: &[&str]) -> Result<Vec<String>, Vec<String>> {
    let any = checks.first() == Some(&"*");
    let under = checks.contains(&"under");
    let hits: Vec<&&Found> = found
        .iter()
        .filter(|f| {
            let check = f.served.as_ref().map_or(f.check.as_str(), |(_, c)| c);
            (if under {
                is_under(&f.key, key)
            } else {
                f.key == key
            }) && (any || checks.contains(&check))
        })
        .collect();
    let strong: BTreeSet<String> = hits
        .iter()
        .filter(|f| f.severity != "info")
        .map(|f| format!("{} {}", f.severity, f.check))
        .collect();
    if !strong.is_empty() {
        return Ok(strong.into_iter().collect());
    }
    Err(hits
        .iter()
        .map(|f| f.check.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect())
}

fn classify<'a>(
    pair: &str,
    crd: &str,
    e: &CrdifyError,
    found: &[Found],
    served_new: &BTreeSet<String>,
    docs: &dyn Fn() -> &'a (Value, Value),
) -> Outcome {
    match compare_one(e, found, served_new, docs) {
        Outcome::Gap(why) => KNOWN_GAPS
            .iter()
            .find(|g| {
                g.0 == pair && g.1 == crd && g.2 == e.version && g.3 == e.key && g.4 == e.validation
            })
            .map_or(Outcome::Gap(why), |gap| {
                Outcome::KnownGap(gap.5.to_string())
            }),
        outcome => outcome,
    }
}

/// The outcome of one crdify error before [`KNOWN_GAPS`].
fn compare_one<'a>(
    e: &CrdifyError,
    found: &[Found],
    served_new: &BTreeSet<String>,
    docs: &dyn Fn() -> &'a (Value, Value),
) -> Outcome {
    if (e.scope != Scope::Crd || e.validation == "existingFieldRemoval")
        && !served_new.contains(&e.version)
    {
        return Outcome::Unserved;
    }
    // The findings this error can be compared with.
    let candidates: Vec<&Found> = found
        .iter()
        .filter(|f| match &e.scope {
            Scope::Crd if e.validation != "existingFieldRemoval" => true,
            Scope::Served { older } => {
                f.version == e.version && f.served.as_ref().is_some_and(|(o, _)| o == older)
            }
            _ => f.version == e.version && f.served.is_none(),
        })
        .collect();
    // A removed field covers its whole subtree.
    let removed: Vec<&&Found> = candidates
        .iter()
        .filter(|f| {
            let check = f.served.as_ref().map_or(f.check.as_str(), |(_, c)| c);
            check == "field-removed" && f.severity != "info" && is_under(&e.key, &f.key)
        })
        .collect();
    if let Some(f) = removed.first() {
        return Outcome::Matched(vec![format!("{} {} at {}", f.severity, f.check, f.path)]);
    }
    let mut matched = BTreeSet::new();
    let mut infos = BTreeSet::new();
    let mut missing = Vec::new();
    let mut tries: Vec<(String, String, &[&str])> = Vec::new();
    match e.validation.as_str() {
        "scope" | "storedVersionRemoval" => {
            let checks = expected_checks(&e.validation);
            match candidates
                .iter()
                .find(|f| checks.contains(&f.check.as_str()) && f.severity != "info")
            {
                Some(f) => {
                    matched.insert(format!("{} {}", f.severity, f.check));
                }
                None => missing.push(format!("no {}", checks.join("/"))),
            }
        }
        "required" => {
            for name in &e.names {
                tries.push((
                    format!("required {name}"),
                    format!("{}.{name}", e.key),
                    expected_checks("required"),
                ));
            }
        }
        "unhandled" => {
            for keyword in &e.names {
                let checks = keyword_checks(keyword);
                if checks.is_empty() {
                    missing.push(format!("{keyword}: not in KEYWORDS"));
                } else {
                    tries.push((keyword.clone(), e.key.clone(), checks));
                }
            }
        }
        v => {
            let checks = expected_checks(v);
            if checks.is_empty() {
                missing.push(format!("{v}: not in VALIDATIONS"));
            } else {
                tries.push((v.to_string(), e.key.clone(), checks));
            }
        }
    }
    let mut voids = BTreeSet::new();
    let mut artifacts = BTreeSet::new();
    let mut nodes: Option<(Value, Value)> = None;
    for (what, key, checks) in tries {
        match look(&candidates, &key, checks) {
            Ok(m) => matched.extend(m),
            Err(i) if !i.is_empty() && i.iter().all(|c| info_reason(c).is_some()) => {
                infos.extend(i)
            }
            Err(i) => {
                // Nothing (or not the expected severity) from crdguard: was there a change?
                let (old, new) = nodes.get_or_insert_with(|| {
                    let (old_crd, new_crd) = docs();
                    let (old_crd, old_version) = match &e.scope {
                        Scope::Served { older } => (new_crd, older.as_str()),
                        _ => (old_crd, e.version.as_str()),
                    };
                    (
                        schema_node(old_crd, old_version, &e.key)
                            .cloned()
                            .unwrap_or_default(),
                        schema_node(new_crd, &e.version, &e.key)
                            .cloned()
                            .unwrap_or_default(),
                    )
                });
                let keyword = if e.validation == "unhandled" {
                    what.as_str()
                } else {
                    e.validation.as_str()
                };
                if let Some(why) = not_breaking(keyword, &e.scope, old, new) {
                    voids.insert(why);
                } else if let Some(why) = artifact(keyword, old, new) {
                    artifacts.insert(why);
                } else if i.is_empty() {
                    missing.push(format!("{what}: no finding"));
                } else {
                    missing.push(format!("{what}: only {}", i.join(", ")));
                }
            }
        }
    }
    if !missing.is_empty() {
        Outcome::Gap(missing.join("; "))
    } else if !matched.is_empty() {
        // Part of an `unhandled` error may be info by design or void; the strong part decides.
        Outcome::Matched(matched.into_iter().collect())
    } else if !infos.is_empty() {
        Outcome::Info(infos.into_iter().collect())
    } else if !voids.is_empty() {
        Outcome::Void(voids.into_iter().collect())
    } else if !artifacts.is_empty() {
        Outcome::Artifact(artifacts.into_iter().collect())
    } else {
        Outcome::Gap("nothing compared".into())
    }
}

/// Whether a crdify error is about the same place as a crdguard finding (for crdguard-only
/// errors): the CRD as a whole, or the same version and path (crdify's removed subtree fields
/// under crdguard's removed field; crdify's `required` on the parent of crdguard's field).
fn same_place(e: &CrdifyError, f: &Found) -> bool {
    if f.version.is_empty() {
        return e.scope == Scope::Crd && e.version.is_empty();
    }
    let parent = f.key.rfind('.').map_or("", |i| &f.key[..i]);
    e.version == f.version
        && (e.key == f.key
            || is_under(&e.key, &f.key)
            || (e.validation == "required" && e.key == parent))
}

/// The schema node at a crdify location (`.spec.rules[*].name`) of one version of a CRD:
/// `.name` is a property, `[*]` the list entries (or map values), `[i]` a tuple entry.
fn schema_node<'a>(crd: &'a Value, version: &str, key: &str) -> Option<&'a Value> {
    let mut node = crd["spec"]["versions"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == version)?
        .pointer("/schema/openAPIV3Schema")?;
    let mut rest = key;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("[*]") {
            node = node
                .get("items")
                .filter(|i| i.is_object())
                .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()))?;
            rest = after;
        } else if let Some(after) = rest.strip_prefix('[') {
            let (index, after) = after.split_once(']')?;
            node = node.get("items")?.get(index.parse::<usize>().ok()?)?;
            rest = after;
        } else {
            let after = rest.strip_prefix('.')?;
            let end = after.find(['.', '[']).unwrap_or(after.len());
            node = node.get("properties")?.get(&after[..end])?;
            rest = &after[end..];
        }
    }
    Some(node)
}

/// The JSON keyword of a crdify validation or of a `JSONSchemaProps` field.
fn json_keyword(name: &str) -> Option<&'static str> {
    Some(match name {
        "type" => "type",
        "default" => "default",
        "enum" => "enum",
        "required" => "required",
        "maximum" => "maximum",
        "minimum" => "minimum",
        "maxItems" => "maxItems",
        "minItems" => "minItems",
        "maxLength" => "maxLength",
        "minLength" => "minLength",
        "maxProperties" => "maxProperties",
        "minProperties" => "minProperties",
        "Format" => "format",
        "Pattern" => "pattern",
        "Nullable" => "nullable",
        "XListType" => "x-kubernetes-list-type",
        "XListMapKeys" => "x-kubernetes-list-map-keys",
        "XMapType" => "x-kubernetes-map-type",
        "XValidations" => "x-kubernetes-validations",
        "XPreserveUnknownFields" => "x-kubernetes-preserve-unknown-fields",
        "XIntOrString" => "x-kubernetes-int-or-string",
        "XEmbeddedResource" => "x-kubernetes-embedded-resource",
        _ => return None,
    })
}

/// The CEL rules of a schema node, each as JSON, sorted.
fn cel_rules(node: &Value) -> Vec<String> {
    let mut rules: Vec<String> = node["x-kubernetes-validations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    rules.sort();
    rules
}

/// Changes crdify reports that break nothing, checked on the two schema nodes; crdguard
/// reports nothing for them.
fn not_breaking(keyword: &str, scope: &Scope, old: &Value, new: &Value) -> Option<&'static str> {
    let get = |node: &Value, key: &str| node.get(key).cloned();
    match keyword {
        "XListType" => {
            let of = |n: &Value| get(n, "x-kubernetes-list-type").unwrap_or(Value::from("atomic"));
            (of(old) == of(new)).then_some(
                "`x-kubernetes-list-type: atomic` added or removed: atomic is what a list without one is (Kubernetes' default)",
            )
        }
        "XMapType" => {
            let of = |n: &Value| get(n, "x-kubernetes-map-type").unwrap_or(Value::from("granular"));
            (of(old) == of(new)).then_some(
                "`x-kubernetes-map-type: granular` added or removed: granular is what an object without one is (Kubernetes' default)",
            )
        }
        "XValidations" => {
            let (was, now) = (cel_rules(old), cel_rules(new));
            if !was.is_empty() && was == now {
                Some(
                    "the same CEL rules (`x-kubernetes-validations`) in another order: rules that must all hold",
                )
            } else if matches!(scope, Scope::Served { .. }) && now.iter().all(|r| was.contains(r)) {
                Some(
                    "served versions: the newer version has only some of the older version's CEL rules, so it is looser; crdguard's served-version check reports a newer version that is stricter",
                )
            } else {
                None
            }
        }
        _ => None,
    }
}

/// crdify v0.5.0 keys the branches of `allOf`/`anyOf`/`oneOf`/`not` at their parent's path and
/// the last branch visited replaces the node in its comparison: a keyword that is the same on
/// the node itself is reported as changed when a branch lacks it.
fn artifact(keyword: &str, old: &Value, new: &Value) -> Option<&'static str> {
    let json = json_keyword(keyword)?;
    let branches = |n: &Value| {
        ["allOf", "anyOf", "oneOf", "not"]
            .iter()
            .any(|b| n.get(b).is_some())
    };
    ((branches(old) || branches(new)) && old.get(json) == new.get(json)).then_some(
        "crdify v0.5.0 keys `allOf`/`anyOf`/`oneOf`/`not` branches at their parent's path, so the last branch replaces the node in its comparison; the node's own keyword did not change (crdguard reports the branches: `one-of-changed` etc.)",
    )
}

// ------------------------------------------------------------------------------------ run

/// The comparison of one CRD of one pair.
struct CrdRow {
    pair: String,
    crd: String,
    /// `changed`, `identical`, `added`, `removed`.
    status: &'static str,
    errors: Vec<(CrdifyError, Outcome)>,
    crdify_warnings: usize,
    /// crdguard findings without a server version.
    found: Vec<Found>,
    /// crdguard errors at [`RATCHETING_SERVER`], and the checks ratcheting turned into warnings.
    ratcheted_errors: usize,
    ratcheted: BTreeMap<String, usize>,
    /// crdguard errors with no crdify error at the same version and path: (finding, reason).
    crdguard_only: Vec<(Found, Option<&'static str>)>,
}

impl CrdRow {
    fn crdguard_errors(&self) -> usize {
        self.found.iter().filter(|f| f.severity == "error").count()
    }
}

struct Job {
    row: usize,
    old: PathBuf,
    new: PathBuf,
}

fn compare_all(crdify: &str, work: &Path) -> Vec<CrdRow> {
    let config = work.join("crdify-config.yaml");
    std::fs::write(&config, CRDIFY_CONFIG).unwrap();
    let mut rows = Vec::new();
    let mut jobs = Vec::new();
    let mut served_new = Vec::new();
    for (index, pair) in pairs().iter().enumerate() {
        let (old, new) = (split_crds(&pair.old), split_crds(&pair.new));
        let dir = work.join(format!("pair-{index:02}"));
        for (side, crds) in [("old", &old), ("new", &new)] {
            std::fs::create_dir_all(dir.join(side)).unwrap();
            for (name, doc) in crds.iter() {
                std::fs::write(dir.join(side).join(format!("{name}.yaml")), &doc.text).unwrap();
            }
        }
        let plain = run_crdguard(&dir.join("old"), &dir.join("new"), None);
        let ratcheting = run_crdguard(&dir.join("old"), &dir.join("new"), Some(RATCHETING_SERVER));
        let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
        for name in names {
            let status = match (old.get(name), new.get(name)) {
                (Some(a), Some(b)) if a.text == b.text => "identical",
                (Some(_), Some(_)) => "changed",
                (None, _) => "added",
                (_, None) => "removed",
            };
            let found: Vec<Found> = plain
                .get(name)
                .into_iter()
                .flatten()
                .map(parse_found)
                .collect();
            let mut ratcheted = BTreeMap::new();
            let mut ratcheted_errors = 0;
            for f in ratcheting.get(name).into_iter().flatten() {
                if f["severity"] == "error" {
                    ratcheted_errors += 1;
                }
                let by_ratcheting = f["adjusted"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|a| a["by"] == "ratcheting"));
                if by_ratcheting {
                    *ratcheted
                        .entry(f["check"].as_str().unwrap().to_string())
                        .or_insert(0) += 1;
                }
            }
            if status == "changed" {
                jobs.push(Job {
                    row: rows.len(),
                    old: dir.join("old").join(format!("{name}.yaml")),
                    new: dir.join("new").join(format!("{name}.yaml")),
                });
            }
            served_new.push(
                new.get(name)
                    .map(|d| {
                        d.versions
                            .iter()
                            .filter(|v| v.1)
                            .map(|v| v.0.clone())
                            .collect::<BTreeSet<_>>()
                    })
                    .unwrap_or_default(),
            );
            rows.push(CrdRow {
                pair: pair.name.clone(),
                crd: name.clone(),
                status,
                errors: Vec::new(),
                crdify_warnings: 0,
                found,
                ratcheted_errors,
                ratcheted,
                crdguard_only: Vec::new(),
            });
        }
    }

    // crdify, one process per changed CRD, on every core.
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let result = run_crdify(crdify, &config, &job.old, &job.new);
                    results.lock().unwrap().push((i, result));
                }
            });
        }
    });
    for (job, result) in results.into_inner().unwrap() {
        let job = &jobs[job];
        let r = &mut rows[job.row];
        let mut warnings = 0;
        let errors = crdify_errors(&result, &mut warnings);
        r.crdify_warnings = warnings;
        // The schemas, parsed only for errors crdguard has nothing for.
        let parsed = std::cell::OnceCell::new();
        let docs = || parsed.get_or_init(|| (parse_yaml(&job.old), parse_yaml(&job.new)));
        r.errors = errors
            .into_iter()
            .map(|e| {
                let outcome = classify(&r.pair, &r.crd, &e, &r.found, &served_new[job.row], &docs);
                (e, outcome)
            })
            .collect();
    }
    for r in &mut rows {
        if r.status != "changed" {
            continue;
        }
        let only: Vec<(Found, Option<&'static str>)> = r
            .found
            .iter()
            .filter(|f| f.severity == "error")
            .filter(|f| !r.errors.iter().any(|(e, _)| same_place(e, f)))
            .map(|f| {
                let reason = CRDGUARD_ONLY
                    .iter()
                    .find(|(c, _)| *c == f.check)
                    .map(|(_, r)| *r);
                (f.clone(), reason)
            })
            .collect();
        r.crdguard_only = only;
    }
    rows
}

// ------------------------------------------------------------------------------------ report

fn cell(s: &str) -> String {
    let s = s.replace('|', "\\|").replace('\n', " ");
    let mut out: String = s.chars().take(140).collect();
    if s.chars().count() > 140 {
        out.push('…');
    }
    out
}

fn code(s: &str) -> String {
    if s.is_empty() {
        "`.`".to_string()
    } else {
        format!("`{}`", s.replace('`', "'").replace('|', "\\|"))
    }
}

fn outcome_kind(o: &Outcome) -> &'static str {
    match o {
        Outcome::Matched(_) => "matched",
        Outcome::Unserved => "unserved version",
        Outcome::Info(_) => "info by design",
        Outcome::Void(_) => "breaks nothing",
        Outcome::Artifact(_) => "crdify artifact",
        Outcome::KnownGap(_) => "known gap",
        Outcome::Gap(_) => "GAP",
    }
}

/// "agree", or how the crdify errors of these rows came out and how many crdguard-only errors.
fn agreement<'a>(rows: impl IntoIterator<Item = &'a CrdRow>) -> String {
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for r in rows {
        for (_, o) in &r.errors {
            *kinds.entry(outcome_kind(o)).or_default() += 1;
        }
        if !r.crdguard_only.is_empty() {
            *kinds.entry("crdguard-only").or_default() += r.crdguard_only.len();
        }
    }
    if kinds.keys().all(|k| *k == "matched") {
        "agree".to_string()
    } else {
        kinds
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn render(rows: &[CrdRow], crdify_version: &str) -> String {
    let mut md = String::new();
    let changed: Vec<&CrdRow> = rows.iter().filter(|r| r.status == "changed").collect();
    let mut pairs: Vec<&str> = Vec::new();
    for r in rows {
        if !pairs.contains(&r.pair.as_str()) {
            pairs.push(&r.pair);
        }
    }
    let all_errors: Vec<(&CrdRow, &CrdifyError, &Outcome)> = changed
        .iter()
        .flat_map(|r| r.errors.iter().map(move |(e, o)| (*r, e, o)))
        .collect();
    let count = |kind: &str| {
        all_errors
            .iter()
            .filter(|(_, _, o)| outcome_kind(o) == kind)
            .count()
    };
    let agree = changed
        .iter()
        .filter(|r| {
            r.crdguard_only.is_empty()
                && r.errors
                    .iter()
                    .all(|(_, o)| matches!(o, Outcome::Matched(_)))
        })
        .count();
    let only: usize = changed.iter().map(|r| r.crdguard_only.len()).sum();
    let description_warnings: usize = changed.iter().map(|r| r.crdify_warnings).sum();

    let _ = writeln!(
        md,
        "# crdify parity\n\n\
         <!-- Generated by crates/crdguard/tests/crdify_parity.rs: do not edit. Regenerate with\n     \
         CRDGUARD_BLESS=1 cargo test -p crdguard --test crdify_parity  (or scripts/crdify/compare.sh) -->\n\n\
         `crdguard diff` compared with [crdify](https://github.com/kubernetes-sigs/crdify) {crdify_version} \
         (built by `scripts/crdify/build.sh`) on real upgrades from the corpus. crdify compares one CRD at a time, \
         so every release file is split into one file per CRD; crdguard reads the same files. crdguard runs \
         without a server version (findings as compared) and with `--server-version {RATCHETING_SERVER}` \
         (validation ratcheting: the tightenings it covers become warnings).\n\n\
         crdify runs with its defaults except two that SPEC §5 decides otherwise: `description` is `Warn` \
         (crdguard: `description-changed` is info) and `enum` allows added values (crdguard: `enum-value-added` \
         is info). Everything else, including the catch-all `unhandled` (any other schema difference), is an error.\n"
    );
    let _ = writeln!(md, "## Summary\n");
    let _ = writeln!(
        md,
        "| | |\n|---|---|\n\
         | upgrade pairs | {} |\n\
         | CRDs compared | {} ({} changed, {} identical, {} added, {} removed) |\n\
         | changed CRDs where both agree | {agree} of {} |\n\
         | crdify errors | {} |\n\
         | … with a crdguard counterpart (error or warning) | {} |\n\
         | … in a version the new CRD does not serve | {} |\n\
         | … that crdguard reports as info, by design | {} |\n\
         | … that break nothing (crdguard: no finding) | {} |\n\
         | … that crdify v0.5.0 reports wrongly (composition branches) | {} |\n\
         | … known gaps | {} |\n\
         | crdguard errors | {} |\n\
         | … without a crdify error at that place | {only} |\n\
         | crdguard errors at {RATCHETING_SERVER} | {} |\n\
         | crdify description-change warnings (errors in crdify's default configuration) | {description_warnings} |\n",
        pairs.len(),
        rows.len(),
        changed.len(),
        rows.iter().filter(|r| r.status == "identical").count(),
        rows.iter().filter(|r| r.status == "added").count(),
        rows.iter().filter(|r| r.status == "removed").count(),
        changed.len(),
        all_errors.len(),
        count("matched"),
        count("unserved version"),
        count("info by design"),
        count("breaks nothing"),
        count("crdify artifact"),
        count("known gap"),
        rows.iter().map(CrdRow::crdguard_errors).sum::<usize>(),
        rows.iter().map(|r| r.ratcheted_errors).sum::<usize>(),
    );
    if count("GAP") > 0 {
        let _ = writeln!(
            md,
            "**{} crdify errors have no crdguard counterpart and no documented reason.**\n",
            count("GAP")
        );
    }
    let _ = writeln!(
        md,
        "Counts differ between the tools by design: crdify reports every field of a removed subtree \
         (and compares each with an empty schema: `type`, `unhandled`), crdguard reports the removed field once; \
         crdify's `required` names the object, crdguard names each new required field. \
         A counterpart is defined in the test's documentation: a crdguard error or warning of the mapped \
         check, same CRD, version and path (a removed ancestor covers its subtree).\n"
    );

    let _ = writeln!(md, "## Validation names\n");
    let _ = writeln!(md, "| crdify validation | crdguard checks |\n|---|---|");
    for (v, checks) in VALIDATIONS {
        let _ = writeln!(
            md,
            "| `{v}` | {} |",
            checks
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let _ = writeln!(
        md,
        "\n`unhandled` (a `cmp.Diff` of the schema node), per changed field:\n\n\
         | changed field | crdguard checks |\n|---|---|"
    );
    for (k, checks) in KEYWORDS {
        let checks = if checks.first() == Some(&"*") {
            if checks.contains(&"under") {
                "any, at the node or below (map values)".to_string()
            } else {
                "any, at the node (crdguard reports inside the branches)".to_string()
            }
        } else {
            checks
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(md, "| `{k}` | {checks} |");
    }

    let _ = writeln!(md, "\n## Pairs\n");
    let _ = writeln!(
        md,
        "| pair | CRDs | changed | crdify errors | crdguard errors | crdguard errors at {RATCHETING_SERVER} | agreement |\n|---|---|---|---|---|---|---|"
    );
    for pair in &pairs {
        let of: Vec<&CrdRow> = rows.iter().filter(|r| r.pair == *pair).collect();
        let errors: usize = of.iter().map(|r| r.errors.len()).sum();
        let agreement = agreement(of.iter().copied());
        let _ = writeln!(
            md,
            "| {pair} | {} | {} | {errors} | {} | {} | {agreement} |",
            of.len(),
            of.iter().filter(|r| r.status == "changed").count(),
            of.iter().map(|r| r.crdguard_errors()).sum::<usize>(),
            of.iter().map(|r| r.ratcheted_errors).sum::<usize>(),
        );
    }

    let _ = writeln!(
        md,
        "\n## CRDs\n\nEvery changed CRD where either tool reports an error, and every CRD added or \
         removed (crdify cannot compare those; crdguard reports `crd-added` / `crd-removed`). \
         \"agree\": every crdify error has a crdguard counterpart and every crdguard error a crdify error \
         at the same place. crdify runs on every CRD whose text changed; identical ones give no findings \
         in either tool.\n"
    );
    let _ = writeln!(
        md,
        "| pair | CRD | crdify errors | crdguard errors | at {RATCHETING_SERVER} | agreement |\n|---|---|---|---|---|---|"
    );
    let quiet = rows
        .iter()
        .filter(|r| r.status == "changed" && r.errors.is_empty() && r.crdguard_errors() == 0)
        .count();
    for r in rows.iter().filter(|r| {
        r.status == "added"
            || r.status == "removed"
            || (r.status == "changed" && (!r.errors.is_empty() || r.crdguard_errors() > 0))
    }) {
        let agreement = if r.status != "changed" {
            format!("{} (not compared by crdify)", r.status)
        } else {
            agreement([r])
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {agreement} |",
            r.pair,
            r.crd,
            r.errors.len(),
            r.crdguard_errors(),
            r.ratcheted_errors
        );
    }

    let _ = writeln!(
        md,
        "\n{quiet} other changed CRDs: no error from either tool (most differ in annotations or descriptions only)."
    );
    let _ = writeln!(md, "\n## Disagreements\n");
    // crdify errors without a counterpart, by kind.
    let unserved: Vec<_> = all_errors
        .iter()
        .filter(|(_, _, o)| matches!(o, Outcome::Unserved))
        .collect();
    let _ = writeln!(
        md,
        "### crdify errors in versions the new CRD does not serve ({})\n\n\
         crdify compares every version both CRDs define; crdguard compares the versions the new CRD \
         serves (`diff_crds`): no request can read or write an unserved version, so its schema validates \
         nothing. Taking a version out of service is itself a finding (`served-version-removed`, warning \
         or error when stored).\n",
        unserved.len()
    );
    if !unserved.is_empty() {
        let mut by: BTreeMap<(String, String, String), BTreeMap<String, usize>> = BTreeMap::new();
        for (r, e, _) in &unserved {
            *by.entry((r.pair.clone(), r.crd.clone(), e.version.clone()))
                .or_default()
                .entry(e.validation.clone())
                .or_default() += 1;
        }
        let _ = writeln!(
            md,
            "| pair | CRD | version | crdify errors |\n|---|---|---|---|"
        );
        for ((pair, crd, version), validations) in by {
            let list = validations
                .iter()
                .map(|(v, n)| format!("{n} `{v}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(md, "| {pair} | {crd} | {version} | {list} |");
        }
    }

    let infos: Vec<_> = all_errors
        .iter()
        .filter_map(|(r, e, o)| match o {
            Outcome::Info(checks) => Some((r, e, checks)),
            _ => None,
        })
        .collect();
    let _ = writeln!(
        md,
        "\n### crdify errors that crdguard reports as info ({})\n\n\
         The same change at the same place, which crdguard judges harmless:\n",
        infos.len()
    );
    let used: BTreeSet<&str> = infos
        .iter()
        .flat_map(|(_, _, c)| c.iter().map(String::as_str))
        .collect();
    for check in &used {
        let _ = writeln!(md, "- `{check}`: {}", info_reason(check).unwrap_or("?"));
    }
    if !infos.is_empty() {
        let _ = writeln!(
            md,
            "\n| pair | CRD | version | path | crdify | crdguard (info) |\n|---|---|---|---|---|---|"
        );
        for (r, e, checks) in &infos {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | `{}`: {} | {} |",
                r.pair,
                r.crd,
                e.version,
                code(&e.key),
                e.validation,
                cell(&e.detail),
                checks
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }

    for (title, intro, pick) in [
        (
            "crdify errors that break nothing",
            "crdify compares the schemas' text; crdguard compares what the API server does with them, and reports nothing here (each checked on the two schemas by the test):",
            (|o: &Outcome| match o {
                Outcome::Void(w) => Some(w.clone()),
                _ => None,
            }) as fn(&Outcome) -> Option<Vec<&'static str>>,
        ),
        (
            "crdify errors that are artifacts of crdify v0.5.0",
            "Checked on the two schemas by the test:",
            |o: &Outcome| match o {
                Outcome::Artifact(w) => Some(w.clone()),
                _ => None,
            },
        ),
    ] {
        let picked: Vec<_> = all_errors
            .iter()
            .filter_map(|(r, e, o)| pick(o).map(|w| (r, e, w)))
            .collect();
        let _ = writeln!(md, "\n### {title} ({})\n\n{intro}\n", picked.len());
        let reasons: BTreeSet<&str> = picked
            .iter()
            .flat_map(|(_, _, w)| w.iter().copied())
            .collect();
        for (i, why) in reasons.iter().enumerate() {
            let _ = writeln!(md, "{}. {why}", i + 1);
        }
        if !picked.is_empty() {
            let _ = writeln!(
                md,
                "\n| pair | CRD | version | path | crdify | reason |\n|---|---|---|---|---|---|"
            );
            for (r, e, w) in &picked {
                let numbers: Vec<String> = w
                    .iter()
                    .map(|why| (reasons.iter().position(|x| x == why).unwrap_or(0) + 1).to_string())
                    .collect();
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | `{}`: {} | {} |",
                    r.pair,
                    r.crd,
                    e.version,
                    code(&e.key),
                    e.validation,
                    cell(&e.detail),
                    numbers.join(", ")
                );
            }
        }
    }

    let gaps: Vec<_> = all_errors
        .iter()
        .filter(|(_, _, o)| matches!(o, Outcome::KnownGap(_) | Outcome::Gap(_)))
        .collect();
    let _ = writeln!(
        md,
        "\n### Known gaps: crdify errors crdguard misses ({})\n",
        gaps.len()
    );
    if gaps.is_empty() {
        let _ = writeln!(md, "None.");
    } else {
        let _ = writeln!(
            md,
            "| pair | CRD | version | path | crdify | why |\n|---|---|---|---|---|---|"
        );
        for (r, e, o) in &gaps {
            let why = match o {
                Outcome::KnownGap(why) => why.clone(),
                Outcome::Gap(why) => format!("UNDOCUMENTED: {why}"),
                _ => unreachable!(),
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | `{}`: {} | {} |",
                r.pair,
                r.crd,
                e.version,
                code(&e.key),
                e.validation,
                cell(&e.detail),
                why.replace('|', "\\|")
            );
        }
    }

    let only: Vec<(&CrdRow, &Found, Option<&str>)> = changed
        .iter()
        .flat_map(|r| r.crdguard_only.iter().map(move |(f, why)| (*r, f, *why)))
        .collect();
    let _ = writeln!(
        md,
        "\n### crdguard errors that crdify does not report ({})\n",
        only.len()
    );
    let checks: BTreeSet<&str> = only.iter().map(|(_, f, _)| f.check.as_str()).collect();
    for check in &checks {
        let why = CRDGUARD_ONLY
            .iter()
            .find(|(c, _)| c == check)
            .map_or("UNDOCUMENTED", |(_, r)| r);
        let _ = writeln!(md, "- `{check}`: {why}");
    }
    if !only.is_empty() {
        let _ = writeln!(
            md,
            "\n| pair | CRD | version | path | crdguard check |\n|---|---|---|---|---|"
        );
        for (r, f, _) in &only {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | `{}` |",
                r.pair,
                r.crd,
                f.version,
                code(&f.path),
                f.check
            );
        }
    }

    let mut ratcheted: BTreeMap<&str, usize> = BTreeMap::new();
    for r in rows {
        for (c, n) in &r.ratcheted {
            *ratcheted.entry(c.as_str()).or_default() += n;
        }
    }
    let _ = writeln!(
        md,
        "\n### Ratcheting\n\nAt {RATCHETING_SERVER} the server ratchets validation (KEP-4008): \
         existing objects keep working after a tightening, so crdguard reports these errors as \
         warnings (`adjusted` by `ratcheting` in `-o json`); crdify does not know the server.\n"
    );
    if ratcheted.is_empty() {
        let _ = writeln!(md, "None.");
    } else {
        let _ = writeln!(md, "| crdguard check | errors → warnings |\n|---|---|");
        for (c, n) in ratcheted {
            let _ = writeln!(md, "| `{c}` | {n} |");
        }
    }
    md
}

// ------------------------------------------------------------------------------------ test

#[test]
fn crdify_parity() {
    let started = std::time::Instant::now();
    let crdify = crdify_bin();
    let version = crdify_version(&crdify);
    assert_eq!(
        version, CRDIFY_VERSION,
        "crdify built at the pinned version"
    );
    let work = tempfile::tempdir().unwrap();
    let rows = compare_all(&crdify, work.path());
    eprintln!(
        "compared {} CRDs in {:.1}s",
        rows.len(),
        started.elapsed().as_secs_f64()
    );

    // The comparison compares something: crdify finds errors, most of them matched.
    let errors: Vec<&(CrdifyError, Outcome)> = rows.iter().flat_map(|r| &r.errors).collect();
    let matched = errors
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Matched(_)))
        .count();
    assert!(
        errors.len() >= 100 && matched * 2 > errors.len(),
        "{matched} of {} crdify errors matched",
        errors.len()
    );
    for r in &rows {
        if r.status == "identical" {
            assert!(
                r.found.is_empty(),
                "{} {}: identical text, crdguard findings {:?}",
                r.pair,
                r.crd,
                r.found
            );
        }
    }

    let doc = render(&rows, &version);
    let path = repo().join(DOC);
    if std::env::var_os("CRDGUARD_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &doc).unwrap();
    }

    // Every crdify error has a counterpart or a documented reason.
    let gaps: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            r.errors.iter().filter_map(move |(e, o)| match o {
                Outcome::Gap(why) => Some(format!(
                    "{} | {} | {} | {} | {} ({}): {why}",
                    r.pair,
                    r.crd,
                    e.version,
                    code(&e.key),
                    e.validation,
                    e.detail
                )),
                _ => None,
            })
        })
        .collect();
    assert!(
        gaps.is_empty(),
        "{} crdify errors without a crdguard counterpart (fix crdguard, or document them in \
         KNOWN_GAPS):\n{}",
        gaps.len(),
        gaps.join("\n")
    );
    // The known gaps are exactly those listed.
    let seen: BTreeSet<(&str, &str, &str, &str, &str)> = rows
        .iter()
        .flat_map(|r| {
            r.errors.iter().filter_map(move |(e, o)| {
                matches!(o, Outcome::KnownGap(_)).then_some((
                    r.pair.as_str(),
                    r.crd.as_str(),
                    e.version.as_str(),
                    e.key.as_str(),
                    e.validation.as_str(),
                ))
            })
        })
        .collect();
    let listed: BTreeSet<(&str, &str, &str, &str, &str)> = KNOWN_GAPS
        .iter()
        .map(|g| (g.0, g.1, g.2, g.3, g.4))
        .collect();
    assert_eq!(seen, listed, "KNOWN_GAPS must list exactly the gaps found");
    // Every crdguard-only error is explained.
    let unexplained: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            r.crdguard_only
                .iter()
                .filter(|(_, why)| why.is_none())
                .map(move |(f, _)| {
                    format!(
                        "{} | {} | {} | {} | {}",
                        r.pair, r.crd, f.version, f.path, f.check
                    )
                })
        })
        .collect();
    assert!(
        unexplained.is_empty(),
        "crdguard errors crdify does not report, without a reason in CRDGUARD_ONLY:\n{}",
        unexplained.join("\n")
    );

    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != doc {
        let line = committed
            .lines()
            .zip(doc.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(committed.lines().count().min(doc.lines().count()));
        panic!(
            "{DOC} is out of date at line {}:\n  committed: {:?}\n  now:       {:?}\n\
             (CRDGUARD_BLESS=1 cargo test -p crdguard --test crdify_parity rewrites it)",
            line + 1,
            committed.lines().nth(line),
            doc.lines().nth(line)
        );
    }
    eprintln!("crdify parity: {:.1}s", started.elapsed().as_secs_f64());
}

// ------------------------------------------------------------------------------------ units

#[test]
fn crdguard_paths_in_crdify_spelling() {
    assert_eq!(crdguard_key("."), "");
    assert_eq!(crdguard_key(".spec.rules[*].port"), ".spec.rules[*].port");
    assert_eq!(crdguard_key(".spec.labels.*"), ".spec.labels[*]");
    assert_eq!(crdguard_key(".spec.labels.*.x"), ".spec.labels[*].x");
    assert_eq!(crdguard_key(".metadata[\"a.b/c\"]"), ".metadata.a.b/c");
    assert_eq!(crdguard_key(".spec.port(anyOf[1])"), ".spec.port");
    assert_eq!(
        crdguard_key(".spec(patternProperties[\"^(a|b)$\"]).x"),
        ".spec.x"
    );
    assert_eq!(crdguard_key(".[*]"), "[*]");
    assert_eq!(crdify_key("^.spec.rules[*]"), ".spec.rules[*]");
    assert_eq!(crdify_key("^"), "");
    assert!(is_under(".spec.a.b", ".spec.a"));
    assert!(is_under(".spec.a[*]", ".spec.a"));
    assert!(!is_under(".spec.ab", ".spec.a"));
    assert!(is_under(".spec", ""));
}

#[test]
fn changed_fields_of_a_cmp_diff() {
    // cmp pads with a space or a no-break space, at random.
    let diff = "unhandled changes found :\n\u{a0}\u{a0}&v1.JSONSchemaProps{\n\u{a0}\u{a0}\t... // 40 identical fields\n\
                \u{a0}\u{a0}\tXListMapKeys: nil,\n-\u{a0}\tXMapType:     nil,\n+\u{a0}\tXMapType:     &\"atomic\",\n\
                \u{a0}\u{a0}\tXValidations: v1.ValidationRules{\n-\u{a0}\t\t{Rule: \"a\"},\n+\u{a0}\t\t{Rule: \"b\"},\n\
                \u{a0}\u{a0}\t},\n\u{a0}\u{a0}}\n";
    assert_eq!(changed_fields(diff), ["XMapType", "XValidations"]);
    let spaces = diff.replace('\u{a0}', " ");
    assert_eq!(changed_fields(&spaces), ["XMapType", "XValidations"]);
    assert_eq!(
        changed_fields(
            "-\u{a0}&v1.JSONSchemaProps{Type: \"string\"}\n+\u{a0}&v1.JSONSchemaProps{}\n"
        ),
        ["(whole schema)"]
    );
}

#[test]
fn every_mapped_check_exists() {
    let mapped = VALIDATIONS
        .iter()
        .chain(KEYWORDS)
        .flat_map(|(_, checks)| checks.iter())
        .filter(|c| !matches!(**c, "*" | "under"))
        .chain(INFO_BY_DESIGN.iter().map(|(c, _)| c))
        .chain(CRDGUARD_ONLY.iter().map(|(c, _)| c));
    for check in mapped {
        if let Err(err) = check.parse::<crdguard_schema::Check>() {
            panic!("{check} is not a crdguard check: {err}");
        }
    }
}
