//! Any JSON in, findings out: no panics on inputs that are not shaped like CRDs or schemas.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected input

mod common;

use common::*;
use crdguard_schema::{Check, diff_crds, diff_sets};
use serde_json::{Value, json};

fn odd_values() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(-1.5),
        json!("x"),
        json!([]),
        json!([1, "a", null, {"a": 1}]),
        json!({}),
        json!({"type": 7, "properties": [1, 2]}),
    ]
}

#[test]
fn whole_inputs_of_any_type_do_not_panic() {
    for a in odd_values() {
        for b in odd_values() {
            let _ = diff_crds(&a, &b);
        }
    }
    let _ = diff_sets(&odd_values(), &odd_values());
}

#[test]
fn odd_types_at_every_crd_and_schema_position_do_not_panic() {
    let base = crd_with_schema(yaml(
        "{type: object, required: [spec], properties: {spec: {type: object, \
          required: [a], x-kubernetes-validations: [{rule: 'true', message: m}], \
          properties: {a: {type: string, enum: [x, y], default: x, maxLength: 3, pattern: '^x'}, \
          l: {type: array, x-kubernetes-list-type: map, x-kubernetes-list-map-keys: [k], items: {type: object, properties: {k: {type: string}}}}, \
          m: {type: object, additionalProperties: {type: integer, maximum: 3}}, \
          o: {anyOf: [{type: integer}, {type: string}], allOf: [{minimum: 1}], not: {maximum: 0}}}}}}",
    ));
    // Every position (object member or array entry) of the base CRD, as a JSON pointer.
    let mut pointers = Vec::new();
    collect_pointers(&base, String::new(), &mut pointers);
    assert!(pointers.len() > 60, "{}", pointers.len());
    let mut runs = 0usize;
    for pointer in &pointers {
        for odd in odd_values() {
            let mut mutated = base.clone();
            if let Some(slot) = mutated.pointer_mut(pointer) {
                *slot = odd;
            }
            let _ = diff_crds(&base, &mutated);
            let _ = diff_crds(&mutated, &base);
            runs += 2;
        }
    }
    assert!(runs > 900);
}

fn collect_pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let escaped = key.replace('~', "~0").replace('/', "~1");
                let pointer = format!("{at}/{escaped}");
                out.push(pointer.clone());
                collect_pointers(child, pointer, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let pointer = format!("{at}/{i}");
                out.push(pointer.clone());
                collect_pointers(child, pointer, out);
            }
        }
        _ => {}
    }
}

#[test]
fn identical_crds_have_no_findings() {
    let text =
        std::fs::read_to_string(corpus().join("gateway-api/v1.6.1/experimental-install.yaml"))
            .expect("corpus file");
    for crd in parse_documents(&text) {
        assert!(diff_crds(&crd, &crd).is_empty());
    }
}

#[test]
fn the_walk_stops_at_a_depth_bound() {
    // Deeper than serde_json would parse (128); built by code. The walk gives up with a
    // warning instead of recursing without bound (a stack overflow aborts the process).
    let mut old = json!({"type": "string"});
    let mut new = json!({"type": "integer"});
    for _ in 0..300 {
        old = json!({"type": "object", "properties": {"a": old}});
        new = json!({"type": "object", "properties": {"a": new}});
    }
    let f = diff_crds(&crd_with_schema(old), &crd_with_schema(new));
    assert_eq!(f.len(), 1, "{}", render(&f));
    assert_eq!(f[0].check, Check::UnhandledChange);
    assert!(f[0].path.starts_with(".a.a.a"));
}
