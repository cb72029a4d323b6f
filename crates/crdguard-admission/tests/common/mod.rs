//! Shared helpers: reading the real corpus (never copied into the repository).

#![allow(dead_code)]

use std::path::PathBuf;

use crdguard_admission::PolicyEvaluator;
use crdguard_core::load::{Loaded, load_text};
use crdguard_core::model::Crd;
use crdguard_core::yaml::Limits;
use serde_json::Value;

pub fn corpus(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus")
        .join(path)
}

pub fn load(path: &str) -> Loaded {
    let file = corpus(path);
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    load_text(&file.display().to_string(), &text, Limits::default())
        .unwrap_or_else(|e| panic!("cannot load {}: {e}", file.display()))
}

/// The CRD `name` of a corpus file.
pub fn crd(path: &str, name: &str) -> Crd {
    load(path)
        .crds
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("{name} not in {path}"))
}

/// The policy and binding objects of a corpus file.
pub fn admission_objects(path: &str) -> Vec<Value> {
    let objects: Vec<Value> = load(path).others.into_iter().map(|o| o.object).collect();
    assert!(!objects.is_empty(), "{path} holds no objects");
    objects
}

/// The evaluator for the Gateway API `safe-upgrades` policy of one release and channel.
pub fn safe_upgrades(release: &str, channel: &str) -> PolicyEvaluator {
    PolicyEvaluator::from_objects(&admission_objects(&format!(
        "gateway-api/{release}/extras-{channel}.yaml"
    )))
}

/// A Gateway API CRD of one release and channel.
pub fn gateway_crd(release: &str, channel: &str, name: &str) -> Crd {
    crd(
        &format!("gateway-api/{release}/{channel}-install.yaml"),
        name,
    )
}

pub const HTTPROUTES: &str = "httproutes.gateway.networking.k8s.io";
pub const GATEWAYS: &str = "gateways.gateway.networking.k8s.io";

/// `crd` with one annotation changed (`None` removes it).
pub fn with_annotation(crd: &Crd, key: &str, value: Option<&str>) -> Crd {
    let mut crd = crd.clone();
    let annotations = crd
        .object
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
        .expect("annotations");
    match value {
        Some(v) => {
            annotations.insert(key.to_string(), v.into());
            crd.annotations.insert(key.to_string(), v.to_string());
        }
        None => {
            annotations.remove(key);
            crd.annotations.remove(key);
        }
    }
    crd
}
