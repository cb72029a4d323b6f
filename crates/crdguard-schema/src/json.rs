//! Small helpers over `serde_json::Value` shared by the checks: tolerant accessors (schemas may
//! hold any JSON type anywhere), semantic equality and short renderings for messages.

use serde_json::{Map, Value};
use std::fmt::Write as _;

/// Longest rendering of one value in a message; longer ones are cut with `…`.
const MAX_VALUE_CHARS: usize = 80;
/// Most list entries shown in a message (`[a, b, … +12 more]`).
const MAX_LIST_ENTRIES: usize = 12;

/// `true` only for a JSON `true`: a missing keyword or any other type counts as false.
pub(crate) fn flag(map: &Map<String, Value>, key: &str) -> bool {
    matches!(map.get(key), Some(Value::Bool(true)))
}

pub(crate) fn str_of<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str)
}

pub(crate) fn num_of(map: &Map<String, Value>, key: &str) -> Option<f64> {
    map.get(key).and_then(Value::as_f64)
}

/// The strings of a JSON array of strings; other entries and other types are ignored.
pub(crate) fn strings_of<'a>(map: &'a Map<String, Value>, key: &str) -> Vec<&'a str> {
    match map.get(key) {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Equality as the API server sees it: numbers compare by value (`1` == `1.0`), object key
/// order does not matter; everything else is structural.
pub(crate) fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || matches!((x.as_f64(), y.as_f64()), (Some(p), Some(q)) if p == q)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// A value as a reader would write it: strings bare inside lists, compact JSON otherwise.
pub(crate) fn show_bare(value: &Value) -> String {
    match value {
        Value::String(s) => clip(s),
        other => clip(&other.to_string()),
    }
}

/// A single value in a sentence: strings quoted, compact JSON otherwise.
pub(crate) fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{:?}", clip(s)),
        other => clip(&other.to_string()),
    }
}

/// `[a, b, c]`, shortened for long lists.
pub(crate) fn show_list<'a>(values: impl IntoIterator<Item = &'a Value>) -> String {
    show_list_of(values.into_iter().map(show_bare))
}

pub(crate) fn show_list_of(values: impl IntoIterator<Item = String>) -> String {
    let mut out = String::from("[");
    let mut count = 0usize;
    for value in values {
        if count < MAX_LIST_ENTRIES {
            if count > 0 {
                out.push_str(", ");
            }
            out.push_str(&value);
        }
        count += 1;
    }
    if count > MAX_LIST_ENTRIES {
        let _ = write!(out, ", … +{} more", count - MAX_LIST_ENTRIES);
    }
    out.push(']');
    out
}

/// Numbers as written in a schema: `10` rather than `10.0`.
pub(crate) fn show_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Cuts a string to [`MAX_VALUE_CHARS`] characters on a char boundary.
pub(crate) fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_VALUE_CHARS) {
        None => s.to_string(),
        Some((cut, _)) => format!("{}…", &s[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_by_value_and_objects_ignore_order() {
        assert!(same(&json!(1), &json!(1.0)));
        assert!(!same(&json!(1), &json!("1")));
        assert!(same(
            &json!({"a": 1, "b": [2]}),
            &json!({"b": [2.0], "a": 1})
        ));
        assert!(!same(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
    }

    #[test]
    fn renders_short_values() {
        assert_eq!(show(&json!("Foo")), "\"Foo\"");
        assert_eq!(show_list(&[json!("Foo"), json!(2)]), "[Foo, 2]");
        assert_eq!(show_num(10.0), "10");
        assert_eq!(show_num(0.5), "0.5");
        let long = "x".repeat(200);
        assert_eq!(clip(&long).chars().count(), MAX_VALUE_CHARS + 1);
        let many: Vec<Value> = (0..20).map(|i| json!(i)).collect();
        assert!(show_list(&many).ends_with(", … +8 more]"));
    }
}
