//! Companion objects (SPEC §1): non-CRD objects a bundle's release ships with its CRDs and
//! that belong to the bundle, such as Gateway API's `safe-upgrades` ValidatingAdmissionPolicy
//! and its binding (since v1.5).
//!
//! This module knows which objects are companions and how to compare them. Which release a
//! companion's content belongs to is the catalog's to say (by digest, never by annotation: the
//! v1.5.0 and v1.5.1 policies both say `v1.5.0-dev`, the experimental ones `channel: standard`).

use serde_json::{Map, Value};

/// The API group version every companion kind is served in.
pub const ADMISSION_API_VERSION: &str = "admissionregistration.k8s.io/v1";

/// A kind of object that can be a companion, with the collection it is written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompanionKind {
    pub api_version: &'static str,
    pub kind: &'static str,
    /// The collection path on the API server.
    pub collection: &'static str,
}

pub const VALIDATING_ADMISSION_POLICY: CompanionKind = CompanionKind {
    api_version: ADMISSION_API_VERSION,
    kind: "ValidatingAdmissionPolicy",
    collection: "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies",
};

pub const VALIDATING_ADMISSION_POLICY_BINDING: CompanionKind = CompanionKind {
    api_version: ADMISSION_API_VERSION,
    kind: "ValidatingAdmissionPolicyBinding",
    collection: "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings",
};

/// The bundle an object is a companion of, if it is one (matched by apiVersion group, kind and
/// name; the version of the admission API is not part of the identity). Companions are the
/// registry's to say.
pub fn bundle_of(api_version: &str, kind: &str, name: &str) -> Option<&'static str> {
    crate::registry::Registry::builtin().companion_bundle(api_version, kind, name)
}

/// The companions a bundle ships (kind, name), from the registry.
pub fn known_for(bundle: &str) -> Vec<(CompanionKind, &'static str)> {
    crate::registry::Registry::builtin()
        .bundle(bundle)
        .map(|b| {
            b.companions
                .iter()
                .map(|c| (c.kind, c.name.as_str()))
                .collect()
        })
        .unwrap_or_default()
}

/// The kind description of a companion kind name.
pub fn kind_named(kind: &str) -> Option<CompanionKind> {
    [
        VALIDATING_ADMISSION_POLICY,
        VALIDATING_ADMISSION_POLICY_BINDING,
    ]
    .into_iter()
    .find(|k| k.kind == kind)
}

/// A companion object's content as upstream released it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanionObject {
    pub bundle: String,
    pub kind: String,
    pub name: String,
    /// The whole object (apiVersion, kind, metadata with upstream's labels and annotations, spec).
    pub object: Value,
}

impl CompanionObject {
    /// `Kind/name`, how plans name companion items (SPEC §3).
    pub fn reference(&self) -> String {
        reference(&self.kind, &self.name)
    }

    /// What crdguard sends with server-side apply: upstream's object without server fields.
    pub fn apply_body(&self) -> Value {
        let mut body = Map::new();
        for key in ["apiVersion", "kind", "spec"] {
            if let Some(value) = self.object.get(key) {
                body.insert(key.into(), value.clone());
            }
        }
        let mut metadata = Map::new();
        metadata.insert("name".into(), self.name.clone().into());
        for key in ["labels", "annotations"] {
            if let Some(Value::Object(map)) = self.object.pointer(&format!("/metadata/{key}"))
                && !map.is_empty()
            {
                metadata.insert(key.into(), Value::Object(map.clone()));
            }
        }
        body.insert("metadata".into(), Value::Object(metadata));
        Value::Object(body)
    }
}

pub fn reference(kind: &str, name: &str) -> String {
    format!("{kind}/{name}")
}

/// The part of a companion that identifies its content: `kind` and `spec`, with the values the
/// API server fills in by default removed, so that a copy read back from a cluster compares
/// equal to the file it was created from. Metadata is left out (annotations are not evidence).
pub fn canonical_content(object: &Value) -> Value {
    let mut content = Map::new();
    if let Some(kind) = object.get("kind") {
        content.insert("kind".into(), kind.clone());
    }
    if let Some(spec) = object.get("spec") {
        let mut spec = spec.clone();
        drop_defaults(&mut spec);
        content.insert("spec".into(), spec);
    }
    Value::Object(content)
}

/// Server defaults of ValidatingAdmissionPolicy(Binding) v1 fields, by key name. A key is only
/// dropped when it holds exactly this value, wherever it appears.
const DEFAULTS: [(&str, &str); 3] = [
    ("failurePolicy", "Fail"),
    ("matchPolicy", "Equivalent"),
    ("scope", "*"),
];

fn drop_defaults(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|key, v| {
                let is_default = DEFAULTS
                    .iter()
                    .any(|(k, d)| k == key && v.as_str() == Some(d))
                    || (matches!(key.as_str(), "namespaceSelector" | "objectSelector")
                        && v.as_object().is_some_and(Map::is_empty));
                !is_default
            });
            for v in map.values_mut() {
                drop_defaults(v);
            }
            map.retain(|_, v| !is_empty(v));
        }
        Value::Array(items) => items.iter_mut().for_each(drop_defaults),
        _ => {}
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{GATEWAY_API, GATEWAY_SAFE_UPGRADES};
    use serde_json::json;

    #[test]
    fn companions_are_matched_by_group_kind_and_name() {
        assert_eq!(
            bundle_of(
                "admissionregistration.k8s.io/v1",
                "ValidatingAdmissionPolicy",
                GATEWAY_SAFE_UPGRADES
            ),
            Some(GATEWAY_API)
        );
        assert_eq!(
            bundle_of(
                "admissionregistration.k8s.io/v1beta1",
                "ValidatingAdmissionPolicyBinding",
                GATEWAY_SAFE_UPGRADES
            ),
            Some(GATEWAY_API)
        );
        assert_eq!(
            bundle_of(
                "admissionregistration.k8s.io/v1",
                "ValidatingAdmissionPolicy",
                "other"
            ),
            None
        );
        assert_eq!(bundle_of("v1", "ConfigMap", GATEWAY_SAFE_UPGRADES), None);
    }

    #[test]
    fn server_defaults_do_not_change_the_canonical_content() {
        let file = json!({"kind": "ValidatingAdmissionPolicy", "metadata": {"name": "p",
            "annotations": {"a": "1"}},
            "spec": {"failurePolicy": "Fail", "matchConstraints": {"resourceRules": [
                {"apiGroups": ["x"], "operations": ["CREATE"]}]}}});
        let served = json!({"kind": "ValidatingAdmissionPolicy", "metadata": {"name": "p",
            "uid": "u", "resourceVersion": "9"},
            "spec": {"failurePolicy": "Fail", "matchConstraints": {"matchPolicy": "Equivalent",
                "namespaceSelector": {}, "objectSelector": {}, "resourceRules": [
                {"apiGroups": ["x"], "operations": ["CREATE"], "scope": "*"}]}}});
        assert_eq!(canonical_content(&file), canonical_content(&served));
        let modified = json!({"kind": "ValidatingAdmissionPolicy", "metadata": {"name": "p"},
            "spec": {"failurePolicy": "Ignore", "matchConstraints": {"resourceRules": [
                {"apiGroups": ["x"], "operations": ["CREATE"]}]}}});
        assert_ne!(canonical_content(&file), canonical_content(&modified));
    }
}
