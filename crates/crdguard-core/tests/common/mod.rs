//! Helpers for tests on the real corpus in `../shared/corpus/` (read in place, never copied).
#![allow(dead_code)]
#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected input

use std::path::PathBuf;

use serde_json::{Value, json};

use crdguard_core::load::{Loaded, load_text};
use crdguard_core::plan::{Action, Code, ItemPlan, Plan, PlanInputs, PlanOptions, plan};
use crdguard_core::state::{ClusterSource, DesiredState, ObservedState};
use crdguard_core::yaml::Limits;
use crdguard_core::{Crd, Policy};

pub fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
}

pub fn load(relative: &str) -> Loaded {
    let path = corpus().join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    load_text(relative, &text, Limits::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// All CRDs of a chart's `crds/` tree (recursive), as the sources adapter would find them.
pub fn load_dir(relative: &str) -> Loaded {
    let mut loaded = Loaded::default();
    let mut pending = vec![corpus().join(relative)];
    let mut files = Vec::new();
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        loaded.extend(load_text(&path.display().to_string(), &text, Limits::default()).unwrap());
    }
    loaded
}

pub fn gateway(tag: &str, channel: &str) -> Loaded {
    load(&format!("gateway-api/{tag}/{channel}-install.yaml"))
}

pub fn desired(loaded: Loaded) -> DesiredState {
    DesiredState::from_loaded(loaded).unwrap()
}

/// An observed state where each CRD is installed as given, with `status.storedVersions` set to
/// its storage version (what a fresh install leaves).
pub fn installed(loaded: Loaded) -> ObservedState {
    installed_with(loaded, |_| {})
}

pub fn installed_with(loaded: Loaded, mut edit: impl FnMut(&mut Crd)) -> ObservedState {
    let mut state = ObservedState::empty(ClusterSource::Snapshot);
    state.server_version = Some("v1.33.1".parse().unwrap());
    state.server_version_text = Some("v1.33.1".into());
    for mut crd in loaded.crds {
        // As the API server reports it: every installed CRD has storedVersions.
        if crd.stored_versions.is_empty() {
            crd.stored_versions = vec![crd.storage_version().unwrap().to_string()];
        }
        crd.stored_versions_known = true;
        edit(&mut crd);
        sync_object(&mut crd);
        state.crds.insert(crd.name.clone(), crd);
    }
    state
}

/// Writes the model's metadata and status back into the object (tests edit the model).
pub fn sync_object(crd: &mut Crd) {
    let annotations: serde_json::Map<String, Value> = crd
        .annotations
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let labels: serde_json::Map<String, Value> = crd
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let obj = crd.object.as_object_mut().unwrap();
    let metadata = obj.entry("metadata").or_insert_with(|| json!({}));
    metadata["annotations"] = Value::Object(annotations);
    metadata["labels"] = Value::Object(labels);
    obj.insert(
        "status".into(),
        json!({ "storedVersions": crd.stored_versions }),
    );
}

pub fn empty_cluster() -> ObservedState {
    installed(Loaded::default())
}

pub fn run(
    desired: &DesiredState,
    observed: &ObservedState,
    policy: &Policy,
    options: &PlanOptions,
) -> Plan {
    plan(&PlanInputs {
        desired,
        observed,
        policy,
        options,
        identifier: None,
        admission: None,
        preserved_channel: None,
    })
}

pub fn run_default(desired: &DesiredState, observed: &ObservedState) -> Plan {
    run(
        desired,
        observed,
        &Policy::default_policy(),
        &PlanOptions::default(),
    )
}

pub fn policy(yaml: &str) -> Policy {
    Policy::from_yaml("test-policy.yaml", yaml).unwrap()
}

/// A Gateway API policy with the given `spec.bundles[0]` body lines.
pub fn gateway_policy(body: &str) -> Policy {
    let indented: String = body.lines().map(|l| format!("    {l}\n")).collect();
    policy(&format!(
        "apiVersion: crdguard.dev/v1alpha1\nkind: Policy\nmetadata: {{ name: test }}\nspec:\n  bundles:\n  - name: gateway-api\n{indented}"
    ))
}

pub fn item<'p>(plan: &'p Plan, crd: &str) -> &'p ItemPlan {
    plan.item(crd)
        .unwrap_or_else(|| panic!("no item {crd} in plan"))
}

pub fn first_code(item: &ItemPlan) -> Code {
    item.reasons
        .first()
        .map(|r| r.code)
        .unwrap_or_else(|| panic!("{} has no reason", item.crd))
}

pub fn assert_all(plan: &Plan, bundle: Option<&str>, action: Action, code: Code) {
    let items: Vec<&ItemPlan> = plan
        .items
        .iter()
        .filter(|i| i.bundle.as_deref() == bundle)
        .collect();
    assert!(!items.is_empty(), "no items for bundle {bundle:?}");
    for item in items {
        assert_eq!(
            (item.action, first_code(item)),
            (action, code),
            "{}: {:?}",
            item.crd,
            item.reasons
        );
    }
}

pub const GW: Option<&str> = Some("gateway-api");
