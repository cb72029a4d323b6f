//! Semantic equality of CRDs: two CRDs are equal when the API server would store the same
//! thing, ignoring defaults it fills, field order, status and metadata noise.

use serde_json::{Map, Value};

use crate::model::Crd;

/// Metadata keys that tools add and that never make a CRD "different".
fn is_metadata_noise(key: &str) -> bool {
    key.starts_with("meta.helm.sh/")
        || key.starts_with("helm.sh/")
        || key.starts_with("kubectl.kubernetes.io/")
        || key.starts_with("crdguard.dev/")
        || key == "app.kubernetes.io/managed-by"
        || key == "controller-gen.kubebuilder.io/version"
}

/// Whether writing `desired` over `installed` would change nothing that matters.
pub fn semantically_equal(installed: &Crd, desired: &Crd) -> bool {
    let metadata_covered =
        |desired_map: &std::collections::BTreeMap<String, String>,
         installed_map: &std::collections::BTreeMap<String, String>| {
            desired_map
                .iter()
                .filter(|(k, _)| !is_metadata_noise(k))
                .all(|(k, v)| installed_map.get(k) == Some(v))
        };
    metadata_covered(&desired.annotations, &installed.annotations)
        && metadata_covered(&desired.labels, &installed.labels)
        && applied_spec_equal(installed, desired)
}

/// Compares only what crdguard applies (SPEC §11): a conversion webhook's `caBundle` that the
/// desired CRD leaves out is injected by someone else (cert-manager's cainjector) and owned by
/// them; server-side apply never touches it, so it never makes the CRDs differ.
fn applied_spec_equal(installed: &Crd, desired: &Crd) -> bool {
    const CA_BUNDLE: &str = "/conversion/webhook/clientConfig";
    let desired_spec = canonical_spec(&desired.object);
    let mut installed_spec = canonical_spec(&installed.object);
    if desired_spec
        .pointer(CA_BUNDLE)
        .and_then(|c| c.get("caBundle"))
        .is_none()
        && let Some(Value::Object(client)) = installed_spec.pointer_mut(CA_BUNDLE)
    {
        client.remove("caBundle");
    }
    installed_spec == desired_spec
}

/// `semantically_equal`, except that bundle markers (version and channel annotations) the
/// installed copy lacks are not counted as a difference.
pub fn same_content_but_markers(installed: &Crd, desired: &Crd) -> bool {
    let markers = crate::registry::Registry::builtin();
    let absent_marker = |k: &String, installed: &std::collections::BTreeMap<String, String>| {
        markers.is_marker(k) && !installed.contains_key(k)
    };
    desired
        .annotations
        .iter()
        .filter(|(k, _)| !is_metadata_noise(k))
        .filter(|(k, _)| !absent_marker(k, &installed.annotations))
        .all(|(k, v)| installed.annotations.get(k) == Some(v))
        && desired
            .labels
            .iter()
            .filter(|(k, _)| !is_metadata_noise(k))
            .filter(|(k, _)| !absent_marker(k, &installed.labels))
            .all(|(k, v)| installed.labels.get(k) == Some(v))
        && applied_spec_equal(installed, desired)
}

/// `spec` with the server's defaults filled in and empty/omitted values removed.
pub fn canonical_spec(crd: &Value) -> Value {
    let Some(Value::Object(spec)) = crd.get("spec") else {
        return Value::Null;
    };
    let mut spec = spec.clone();
    spec.entry("conversion")
        .or_insert_with(|| serde_json::json!({ "strategy": "None" }));
    if let Some(Value::Object(names)) = spec.get_mut("names") {
        let kind = names
            .get("kind")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(kind) = kind {
            names
                .entry("singular")
                .or_insert_with(|| Value::String(kind.to_lowercase()));
            names
                .entry("listKind")
                .or_insert_with(|| Value::String(format!("{kind}List")));
        }
    }
    if let Some(Value::Array(versions)) = spec.get_mut("versions") {
        for version in versions.iter_mut() {
            if let Some(schema) = version.pointer_mut("/schema/openAPIV3Schema") {
                normalize_schema(schema);
            }
            if let Value::Object(v) = version {
                drop_false(v, "deprecated");
                if let Some(Value::Array(columns)) = v.get_mut("additionalPrinterColumns") {
                    for column in columns.iter_mut().filter_map(Value::as_object_mut) {
                        if column.get("priority").and_then(Value::as_i64) == Some(0) {
                            column.remove("priority");
                        }
                    }
                }
            }
        }
    }
    drop_false(&mut spec, "preserveUnknownFields");
    let mut spec = Value::Object(spec);
    drop_empty(&mut spec);
    spec
}

fn drop_false(map: &mut Map<String, Value>, key: &str) {
    if map.get(key) == Some(&Value::Bool(false)) {
        map.remove(key);
    }
}

/// Keys of a schema node whose values are JSON data, not schemas: left exactly as written.
const RAW_SCHEMA_KEYS: [&str; 3] = ["default", "example", "enum"];
/// Boolean schema keys the API server omits when false (`omitempty` in JSONSchemaProps).
const OMITTED_WHEN_FALSE: [&str; 6] = [
    "nullable",
    "uniqueItems",
    "exclusiveMaximum",
    "exclusiveMinimum",
    "x-kubernetes-int-or-string",
    "x-kubernetes-embedded-resource",
];

fn normalize_schema(node: &mut Value) {
    let Value::Object(map) = node else { return };
    for key in OMITTED_WHEN_FALSE {
        drop_false(map, key);
    }
    map.retain(|k, v| {
        RAW_SCHEMA_KEYS.contains(&k.as_str()) || !(v.is_null() || v.as_str() == Some(""))
    });
    for (key, value) in map.iter_mut() {
        match key.as_str() {
            "properties" | "patternProperties" | "definitions" => {
                if let Value::Object(children) = value {
                    children.values_mut().for_each(normalize_schema);
                }
            }
            "items" | "additionalProperties" | "not" | "additionalItems" => match value {
                Value::Array(items) => items.iter_mut().for_each(normalize_schema),
                other => normalize_schema(other),
            },
            "allOf" | "anyOf" | "oneOf" => {
                if let Value::Array(items) = value {
                    items.iter_mut().for_each(normalize_schema);
                }
            }
            _ if RAW_SCHEMA_KEYS.contains(&key.as_str()) => normalize_numbers(value),
            _ => {}
        }
    }
}

/// Drops nulls and empty lists/maps outside schema data (the server omits them), and turns
/// integral floats into integers (YAML `1.0` and JSON `1` are the same to the server).
fn drop_empty(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if RAW_SCHEMA_KEYS.contains(&key.as_str()) {
                    normalize_numbers(child);
                } else {
                    drop_empty(child);
                }
            }
            map.retain(|k, v| RAW_SCHEMA_KEYS.contains(&k.as_str()) || !is_empty(v));
        }
        Value::Array(items) => items.iter_mut().for_each(drop_empty),
        Value::Number(_) => normalize_numbers(value),
        _ => {}
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

fn normalize_numbers(value: &mut Value) {
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64())
                && f.fract() == 0.0
                && f.abs() < 9.0e15
            {
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_numbers),
        Value::Object(map) => map.values_mut().for_each(normalize_numbers),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crd(spec: Value) -> Value {
        json!({ "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "spec": spec })
    }

    #[test]
    fn server_defaults_do_not_count_as_differences() {
        let written = crd(json!({
            "group": "x.io", "scope": "Namespaced",
            "names": { "kind": "Foo", "plural": "foos" },
            "versions": [{ "name": "v1", "served": true, "storage": true,
                "schema": { "openAPIV3Schema": { "type": "object", "nullable": false, "description": "" } } }]
        }));
        let read_back = crd(json!({
            "conversion": { "strategy": "None" },
            "scope": "Namespaced", "group": "x.io",
            "names": { "plural": "foos", "kind": "Foo", "singular": "foo", "listKind": "FooList" },
            "versions": [{ "name": "v1", "served": true, "storage": true,
                "schema": { "openAPIV3Schema": { "type": "object" } } }]
        }));
        assert_eq!(canonical_spec(&written), canonical_spec(&read_back));
    }

    #[test]
    fn defaults_inside_schema_data_are_kept() {
        let a =
            crd(json!({ "versions": [{ "schema": { "openAPIV3Schema": { "default": {} } } }] }));
        let b = crd(json!({ "versions": [{ "schema": { "openAPIV3Schema": {} } }] }));
        assert_ne!(canonical_spec(&a), canonical_spec(&b));
        let c =
            crd(json!({ "versions": [{ "schema": { "openAPIV3Schema": { "maximum": 10.0 } } }] }));
        let d =
            crd(json!({ "versions": [{ "schema": { "openAPIV3Schema": { "maximum": 10 } } }] }));
        assert_eq!(canonical_spec(&c), canonical_spec(&d));
    }
}
