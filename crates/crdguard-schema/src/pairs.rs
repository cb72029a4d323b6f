//! Pairing the entries of two JSON objects by key, cheaply.
//!
//! Two versions of a schema almost always list their keys in the same order (generators emit
//! them sorted or in declaration order), and `preserve_order` keeps that order. So entries
//! are first matched by position, which costs one string comparison per key; only after the
//! first mismatch does pairing fall back to hash lookups. On the upjet-aws upgrade this removes
//! most of the hashing from the walk.

use serde_json::map::Iter;
use serde_json::{Map, Value};

/// One key of either object, with its value on each side.
pub(crate) type Pair<'a> = (&'a str, Option<&'a Value>, Option<&'a Value>);

/// Every key of `old` (in its order, with the value `new` has for it, if any), then every key
/// only `new` has (in its order).
pub(crate) fn pairs<'a>(old: &'a Map<String, Value>, new: &'a Map<String, Value>) -> Pairs<'a> {
    Pairs {
        old,
        new,
        old_entries: old.iter(),
        new_entries: new.iter(),
        aligned: true,
        only_new: None,
    }
}

pub(crate) struct Pairs<'a> {
    old: &'a Map<String, Value>,
    new: &'a Map<String, Value>,
    old_entries: Iter<'a>,
    /// `new`'s entries, consumed in step with `old_entries` while keys line up.
    new_entries: Iter<'a>,
    /// Whether every key of `old` so far sat at the same position in `new`.
    aligned: bool,
    /// After `old` is exhausted without alignment: all of `new`, filtered by lookups.
    only_new: Option<Iter<'a>>,
}

impl<'a> Iterator for Pairs<'a> {
    type Item = Pair<'a>;

    fn next(&mut self) -> Option<Pair<'a>> {
        if let Some((key, old_value)) = self.old_entries.next() {
            let at_same_position = if self.aligned {
                self.new_entries.next()
            } else {
                None
            };
            let new_value = match at_same_position {
                Some((new_key, new_value)) if new_key == key => Some(new_value),
                _ => {
                    self.aligned = false;
                    self.new.get(key)
                }
            };
            return Some((key, Some(old_value), new_value));
        }
        if self.aligned {
            // Every key of `old` matched a distinct position of `new`, so whatever `new` has
            // left cannot be in `old`.
            return self
                .new_entries
                .next()
                .map(|(key, value)| (key.as_str(), None, Some(value)));
        }
        let old = self.old;
        let rest = self.only_new.get_or_insert_with(|| self.new.iter());
        rest.find(|(key, _)| !old.contains_key(*key))
            .map(|(key, value)| (key.as_str(), None, Some(value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn collect(old: Value, new: Value) -> Vec<(String, Option<Value>, Option<Value>)> {
        let (Value::Object(o), Value::Object(n)) = (old, new) else {
            unreachable!("test inputs are objects")
        };
        pairs(&o, &n)
            .map(|(k, a, b)| (k.to_string(), a.cloned(), b.cloned()))
            .collect()
    }

    #[test]
    fn aligned_keys_and_a_new_tail() {
        let got = collect(json!({"a": 1, "b": 2}), json!({"a": 1, "b": 3, "c": 4}));
        assert_eq!(
            got,
            [
                ("a".into(), Some(json!(1)), Some(json!(1))),
                ("b".into(), Some(json!(2)), Some(json!(3))),
                ("c".into(), None, Some(json!(4))),
            ]
        );
    }

    #[test]
    fn reordered_removed_and_added_keys() {
        let got = collect(
            json!({"a": 1, "b": 2, "c": 3}),
            json!({"x": 0, "c": 3, "a": 1, "y": 9}),
        );
        assert_eq!(
            got,
            [
                ("a".into(), Some(json!(1)), Some(json!(1))),
                ("b".into(), Some(json!(2)), None),
                ("c".into(), Some(json!(3)), Some(json!(3))),
                ("x".into(), None, Some(json!(0))),
                ("y".into(), None, Some(json!(9))),
            ]
        );
    }

    #[test]
    fn empty_sides() {
        assert_eq!(collect(json!({}), json!({"a": 1})).len(), 1);
        assert_eq!(collect(json!({"a": 1}), json!({})).len(), 1);
        assert!(collect(json!({}), json!({})).is_empty());
    }
}
