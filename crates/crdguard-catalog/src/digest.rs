//! The content digest of a CRD: what identifies upstream content wherever a copy comes from
//! (the release file, a vendored Helm chart, `kubectl get crd -o yaml`, a JSON snapshot).
//!
//! The digest covers `spec` only, in the canonical form the core uses for semantic equality
//! (server defaults filled, empty values dropped, integral floats made integers), with keys
//! sorted and description whitespace collapsed. Everything in `metadata` is left out on purpose:
//! the bundle-version and channel annotations are what identification checks, so they cannot be
//! part of what it matches on (a copy with stripped or edited annotations must still be
//! recognised), and labels/annotations added by Helm, kubectl or providers are noise. Two
//! releases whose CRDs differ only in annotations (v1.2.0/v1.2.1) therefore share digests: that
//! is the point, they are the same content.

use std::fmt::Write as _;

use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

/// Prefix of every digest, so the algorithm can change without ambiguity.
pub const DIGEST_PREFIX: &str = "sha256:";

/// `sha256:<hex>` of the canonical form of `crd` (see the module documentation).
pub fn digest(crd: &Value) -> String {
    sha256_of(&canonical_content(crd))
}

/// `sha256:<hex>` of a companion object's canonical content (kind and spec without server
/// defaults; metadata left out for the same reasons as for CRDs).
pub fn companion_digest(object: &Value) -> String {
    sha256_of(&crdguard_core::companion::canonical_content(object))
}

/// `sha256:<hex>` of `content` in canonical JSON (keys sorted).
pub fn sha256_of(content: &Value) -> String {
    let mut canonical = String::new();
    write_canonical(content, &mut canonical);
    let hash = Sha256::digest(canonical.as_bytes());
    let mut out = String::with_capacity(DIGEST_PREFIX.len() + hash.len() * 2);
    out.push_str(DIGEST_PREFIX);
    for byte in hash {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// The value that is hashed: `{"spec": <canonical spec>}`. Exposed so a test or a debugging
/// session can see why two copies differ.
pub fn canonical_content(crd: &Value) -> Value {
    let mut spec = crdguard_core::normalize::canonical_spec(crd);
    if let Some(Value::Array(versions)) = spec.get_mut("versions") {
        for version in versions.iter_mut() {
            if let Some(schema) = version.pointer_mut("/schema/openAPIV3Schema") {
                normalize_descriptions(schema);
            }
            if let Some(Value::Array(columns)) = version.get_mut("additionalPrinterColumns") {
                for column in columns.iter_mut().filter_map(Value::as_object_mut) {
                    normalize_description(column);
                }
            }
        }
    }
    let mut content = Map::new();
    content.insert("spec".to_string(), spec);
    Value::Object(content)
}

/// Collapses every run of whitespace (including blank lines) in descriptions to one space.
/// Descriptions are documentation: tools re-wrap them, drop blank lines between paragraphs or
/// turn literal blocks into folded ones, and none of that changes what the API server enforces.
/// Only schema nodes are walked, so a `description` key inside `default`/`example`/`enum` data,
/// or a property that happens to be called `description`, is left alone.
fn normalize_descriptions(node: &mut Value) {
    let Value::Object(map) = node else { return };
    normalize_description(map);
    for (key, value) in map.iter_mut() {
        match key.as_str() {
            "properties" | "patternProperties" | "definitions" | "dependencies" => {
                if let Value::Object(children) = value {
                    children.values_mut().for_each(normalize_descriptions);
                }
            }
            "items" | "additionalProperties" | "not" | "additionalItems" => match value {
                Value::Array(items) => items.iter_mut().for_each(normalize_descriptions),
                other => normalize_descriptions(other),
            },
            "allOf" | "anyOf" | "oneOf" => {
                if let Value::Array(items) = value {
                    items.iter_mut().for_each(normalize_descriptions);
                }
            }
            _ => {}
        }
    }
}

fn normalize_description(map: &mut Map<String, Value>) {
    let Some(Value::String(text)) = map.get("description") else {
        return;
    };
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.is_empty() {
        // canonical_spec drops empty descriptions; a whitespace-only one is the same thing.
        map.remove("description");
    } else {
        map.insert("description".to_string(), Value::String(collapsed));
    }
}

/// Compact JSON with object keys sorted by their UTF-8 bytes. `serde_json` is built with
/// `preserve_order` in this workspace, so its own output follows input order and cannot be
/// hashed directly.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, child)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_canonical(child, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::String(s) => write_string(s, out),
        // Null, booleans and numbers print the same whatever the input format was (numbers are
        // already normalized by canonical_spec: `1.0` and `1` are both `1`).
        other => out.push_str(&other.to_string()),
    }
}

fn write_string(s: &str, out: &mut String) {
    // serde_json's string escaping is deterministic; a plain string cannot fail to serialize.
    out.push_str(&Value::String(s.to_string()).to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crd(description: &str) -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": { "name": "foos.x.io", "annotations": { "a": "b" } },
            "spec": {
                "group": "x.io", "scope": "Namespaced",
                "names": { "kind": "Foo", "plural": "foos" },
                "versions": [{ "name": "v1", "served": true, "storage": true,
                    "schema": { "openAPIV3Schema": { "type": "object", "description": description,
                        "properties": {
                            "description": { "type": "string", "description": "the  text" },
                            "n": { "type": "integer", "maximum": 10, "default": { "description": "a  b" } }
                        } } } }]
            }
        })
    }

    #[test]
    fn digest_has_prefix_and_hex() {
        let d = digest(&crd("x"));
        assert!(d.starts_with("sha256:"));
        assert_eq!(d.len(), "sha256:".len() + 64);
        assert!(d["sha256:".len()..].chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn metadata_and_description_whitespace_do_not_count() {
        let mut other = crd("One paragraph.\n\nAnother   one.\n");
        other["metadata"] = json!({ "name": "foos.x.io", "uid": "123", "labels": { "l": "v" } });
        other["status"] = json!({ "storedVersions": ["v1"] });
        assert_eq!(digest(&crd("One paragraph. Another one.")), digest(&other));
    }

    #[test]
    fn schema_data_is_not_rewritten() {
        let content = canonical_content(&crd("x"));
        let n = &content["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["n"];
        assert_eq!(n["default"]["description"], "a  b");
        let field = &content["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["description"];
        assert_eq!(field["description"], "the text");
    }

    #[test]
    fn spec_changes_count() {
        let mut other = crd("x");
        other["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["n"]["maximum"] =
            json!(11);
        assert_ne!(digest(&crd("x")), digest(&other));
    }

    #[test]
    fn keys_are_sorted_by_bytes() {
        let mut out = String::new();
        write_canonical(
            &json!({ "b": 1, "a": [true, null, "é"], "B": 1.5 }),
            &mut out,
        );
        assert_eq!(out, r#"{"B":1.5,"a":[true,null,"é"],"b":1}"#);
    }
}
