//! Conversion of Kubernetes objects (JSON) into CEL values.
//!
//! Kubernetes evaluates admission CEL over unstructured JSON: integers are CEL `int`, other
//! numbers `double`, objects maps keyed by string. We convert ourselves instead of going through
//! serde so that positive integers stay `int` (serde would hand the `cel` crate a `u64`, a `uint`,
//! and `object.spec.replicas > 1` would compare `uint` with `int`).

use std::collections::HashMap;
use std::sync::Arc;

use kube_cel::cel::Value;
use kube_cel::cel::objects::{Key, Map};
use serde_json::Value as Json;

use crate::shape::Shape;

/// Deeper objects are refused: the conversion (and later the interpreter) recurse per level,
/// and a hostile snapshot must not overflow the stack. Real CRDs nest a few dozen levels.
pub(crate) const MAX_DEPTH: usize = 200;

/// Converts `json` into a CEL value, or says why it cannot.
pub(crate) fn to_cel(json: &Json) -> Result<Value, String> {
    convert(json, &Shape::Whole, 0)
}

/// Converts the part of `json` that `shape` describes.
pub(crate) fn to_cel_shaped(json: &Json, shape: &Shape) -> Result<Value, String> {
    convert(json, shape, 0)
}

fn convert(json: &Json, shape: &Shape, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "the object nests deeper than {MAX_DEPTH} levels; crdguard does not evaluate it"
        ));
    }
    Ok(match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else if let Some(u) = n.as_u64() {
                // Only integers beyond i64::MAX get here; Kubernetes would reject them anyway.
                Value::UInt(u)
            } else {
                Value::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => Value::String(Arc::new(s.clone())),
        Json::Array(items) => Value::List(Arc::new(
            items
                .iter()
                .map(|item| convert(item, &Shape::Whole, depth + 1))
                .collect::<Result<Vec<_>, _>>()?,
        )),
        Json::Object(fields) => {
            let mut map = HashMap::new();
            let mut insert = |key: &String, value: &Json, shape: &Shape| -> Result<(), String> {
                let value = convert(value, shape, depth + 1)?;
                map.insert(Key::String(Arc::new(key.clone())), value);
                Ok(())
            };
            match shape {
                Shape::Whole => {
                    for (key, value) in fields {
                        insert(key, value, &Shape::Whole)?;
                    }
                }
                Shape::Fields(wanted) => {
                    for (key, sub) in wanted {
                        if let Some(value) = fields.get(key) {
                            insert(key, value, sub)?;
                        }
                    }
                }
            }
            Value::Map(Map { map: Arc::new(map) })
        }
    })
}

/// A string map (`variables`) as a CEL map.
pub(crate) fn string_map(entries: impl IntoIterator<Item = (String, Value)>) -> Value {
    let map: HashMap<Key, Value> = entries
        .into_iter()
        .map(|(k, v)| (Key::String(Arc::new(k)), v))
        .collect();
    Value::Map(Map { map: Arc::new(map) })
}

/// A short description of a CEL value for messages ("bool true", "string \"x\"").
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Bool(b) => format!("bool {b}"),
        Value::Int(i) => format!("int {i}"),
        Value::UInt(u) => format!("uint {u}"),
        Value::Float(f) => format!("double {f}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Null => "null".to_string(),
        Value::List(l) => format!("a list of {} items", l.len()),
        Value::Map(m) => format!("a map of {} entries", m.map.len()),
        other => format!("a value of type {}", other.type_of()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integers_are_cel_ints_and_objects_maps() {
        let v = to_cel(&json!({"a": 1, "b": [1.5, "x", null, true]})).unwrap();
        let Value::Map(m) = v else {
            panic!("not a map")
        };
        assert_eq!(
            m.map.get(&Key::String(Arc::new("a".into()))),
            Some(&Value::Int(1))
        );
    }

    #[test]
    fn converts_only_the_shape() {
        let json = json!({"spec": {"group": "g", "versions": [1, 2]}, "metadata": {"name": "n"}});
        let shape = Shape::Fields(
            [(
                "spec".to_string(),
                Shape::Fields([("group".to_string(), Shape::Whole)].into()),
            )]
            .into(),
        );
        assert_eq!(
            to_cel_shaped(&json, &shape).unwrap(),
            to_cel(&json!({"spec": {"group": "g"}})).unwrap()
        );
        // Not an object where the shape expects one: converted whole.
        assert_eq!(
            to_cel_shaped(&json!("text"), &shape).unwrap(),
            Value::from("text")
        );
    }

    #[test]
    fn refuses_absurd_depth() {
        let mut deep = json!(1);
        for _ in 0..(MAX_DEPTH + 5) {
            deep = json!([deep]);
        }
        assert!(to_cel(&deep).is_err());
    }
}
