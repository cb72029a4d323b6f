//! Shared helpers for the integration tests: reading the read-only corpus in `shared/` and
//! building small CRDs from inline YAML.
#![allow(dead_code)] // each test binary uses a different subset
#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected input

use std::path::{Path, PathBuf};

use crdguard_schema::{Check, Finding, Severity};
use serde::Deserialize;
use serde_json::{Value, json};

/// `shared/corpus`, located from this crate (never copied into the repository).
pub fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
}

/// Every document of a (multi-document) YAML text, as JSON values; empty documents skipped.
pub fn parse_documents(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).expect("corpus YAML parses"))
        .filter(|v| !v.is_null())
        .collect()
}

/// The CRDs of one YAML file; other documents are skipped.
pub fn load_crds(path: &Path) -> Vec<Value> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    parse_documents(&text)
        .into_iter()
        .filter(|d| d["kind"] == "CustomResourceDefinition")
        .collect()
}

/// Parses inline YAML (flow style is handy in tests).
pub fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("test YAML {text:?}: {e}"))
}

/// A CRD `widgets.example.com` whose only version `v1` has the given schema.
pub fn crd_with_schema(schema: Value) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": "widgets.example.com" },
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": { "kind": "Widget", "plural": "widgets", "listKind": "WidgetList" },
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": { "openAPIV3Schema": schema }
            }]
        }
    })
}

/// A root schema whose `.spec.field` is the given schema (inline YAML).
pub fn spec_field(field: &str) -> Value {
    json!({
        "type": "object",
        "properties": {
            "spec": { "type": "object", "properties": { "field": yaml(field) } }
        }
    })
}

/// Findings for `.spec` schemas written as inline YAML (the object under `spec`).
pub fn diff_spec(old_spec: &str, new_spec: &str) -> Vec<Finding> {
    let wrap = |spec: &str| {
        crd_with_schema(json!({ "type": "object", "properties": { "spec": yaml(spec) } }))
    };
    crdguard_schema::diff_crds(&wrap(old_spec), &wrap(new_spec))
}

/// Findings for `.spec.field` schemas written as inline YAML.
pub fn diff_field(old: &str, new: &str) -> Vec<Finding> {
    crdguard_schema::diff_crds(
        &crd_with_schema(spec_field(old)),
        &crd_with_schema(spec_field(new)),
    )
}

/// Asserts one finding with this check, severity and path, and returns it.
#[track_caller]
pub fn expect<'a>(
    findings: &'a [Finding],
    check: Check,
    severity: Severity,
    path: &str,
) -> &'a Finding {
    findings
        .iter()
        .find(|f| f.check == check && f.severity == severity && f.path == path)
        .unwrap_or_else(|| {
            panic!(
                "expected {severity} {check} at {path}, got:\n{}",
                render(findings)
            )
        })
}

/// Asserts that every finding is `floor` or milder (`Error < Warning < Info` in `Ord`).
#[track_caller]
pub fn no_worse_than(findings: &[Finding], floor: Severity) {
    let bad: Vec<&Finding> = findings.iter().filter(|f| f.severity < floor).collect();
    assert!(bad.is_empty(), "unexpected findings:\n{}", render(findings));
}

#[track_caller]
pub fn absent(findings: &[Finding], check: Check) {
    assert!(
        findings.iter().all(|f| f.check != check),
        "unexpected {check}:\n{}",
        render(findings)
    );
}

pub fn render(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            format!(
                "  {} {} {} {}: {}\n",
                f.severity, f.check, f.version, f.path, f.message
            )
        })
        .collect()
}
