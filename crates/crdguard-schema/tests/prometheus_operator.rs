//! prometheus-operator CRDs: large schemas (one CRD is 1.58 MB) and an enum holding the
//! unquoted YAML scalar `=`.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use crdguard_schema::Severity::Error;
use crdguard_schema::{Check, diff_crds, diff_sets};
use serde_json::Value;

fn set(tag: &str, flavour: &str) -> Vec<Value> {
    let dir = corpus().join(format!("large/prometheus-operator/{tag}/example/{flavour}"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files.iter().flat_map(|f| load_crds(Path::new(f))).collect()
}

#[test]
fn v0_92_1_to_v0_93_0_adds_minimums() {
    let diff = diff_sets(
        &set("v0.92.1", "prometheus-operator-crd"),
        &set("v0.93.0", "prometheus-operator-crd"),
    );
    assert_eq!(diff.items.len(), 10);
    // v0.93.0 adds `minimum: 0` to many integer fields that had no lower bound.
    let f = &diff
        .items
        .iter()
        .find(|i| i.crd == "alertmanagers.monitoring.coreos.com")
        .expect("alertmanagers in the set")
        .findings;
    let found = expect(f, Check::MinimumTightened, Error, ".spec.web.timeout");
    assert_eq!(found.message, "minimum 0 added where there was none");
    assert!(diff.summary.error > 0);
}

#[test]
fn the_enum_value_equals_sign_is_a_string() {
    let crds = set("v0.93.0", "prometheus-operator-crd-full");
    let crd = crds
        .iter()
        .find(|c| c["metadata"]["name"] == "alertmanagerconfigs.monitoring.coreos.com")
        .expect("alertmanagerconfigs");
    // Drop "=" from every enum that holds it; the diff must name it as a string value.
    let mut edited = crd.clone();
    let mut edits = 0;
    drop_value(&mut edited, "=", &mut edits);
    assert!(edits > 0);
    let f = diff_crds(crd, &edited);
    let removed: Vec<_> = f
        .iter()
        .filter(|f| f.check == Check::EnumValueRemoved)
        .collect();
    assert_eq!(removed.len(), edits, "{}", render(&f));
    assert!(
        removed[0]
            .message
            .starts_with("enum value \"=\" removed (was [!=, =, =~, !~]"),
        "{}",
        removed[0].message
    );
}

fn drop_value(value: &mut Value, target: &str, edits: &mut usize) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(entries)) = map.get_mut("enum") {
                let before = entries.len();
                entries.retain(|e| e != target);
                *edits += before - entries.len();
            }
            for child in map.values_mut() {
                drop_value(child, target, edits);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| drop_value(i, target, edits)),
        _ => {}
    }
}
