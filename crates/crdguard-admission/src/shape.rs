//! Which parts of `object` and `oldObject` the policies read, so that only those are converted
//! into CEL values.
//!
//! A CRD is mostly its schema (tens of kilobytes, up to megabytes), while admission policies on
//! CRDs read a few fields (`spec.group`, annotations, labels). Converting whole objects for every
//! write of a 2,000-CRD plan cost most of the evaluation time; converting what is read is
//! equivalent, because every read goes through a recorded field path (see `cel_env`): a field
//! outside every path is never looked at. Any other use of the object (`object == oldObject`,
//! `size(object)`, `object[k]`) needs it whole, and gets it whole.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::compile::References;

/// The part of a JSON value that is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shape {
    /// The whole value.
    Whole,
    /// For an object: only these fields (absent ones stay absent). Anything else is converted
    /// whole, so that reading a field of a non-object fails as it would on the full value.
    Fields(BTreeMap<String, Shape>),
}

impl Shape {
    /// What `root` needs across `references`.
    pub(crate) fn of<'a>(
        root: &str,
        references: impl IntoIterator<Item = &'a References>,
    ) -> Shape {
        let mut shape = Shape::Fields(BTreeMap::new());
        for refs in references {
            if refs.bare.contains(root) {
                return Shape::Whole;
            }
            for path in refs.paths.iter().filter(|p| p.root == root) {
                shape.add(&path.fields, path.presence_only);
            }
        }
        shape
    }

    /// Also keeps `fields` whole.
    pub(crate) fn with(mut self, fields: &[&str]) -> Shape {
        let fields: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        self.add(&fields, false);
        self
    }

    /// A copy of `json` holding only this shape (what `to_cel_shaped` would convert).
    pub(crate) fn prune(&self, json: &Value) -> Value {
        match (self, json) {
            (Shape::Fields(wanted), Value::Object(fields)) => Value::Object(
                wanted
                    .iter()
                    .filter_map(|(key, sub)| fields.get(key).map(|v| (key.clone(), sub.prune(v))))
                    .collect(),
            ),
            _ => json.clone(),
        }
    }

    fn add(&mut self, fields: &[String], presence_only: bool) {
        let Shape::Fields(children) = self else {
            return;
        };
        match fields {
            [] => *self = Shape::Whole,
            // `has(x.f)` needs `f` to be there, not what it holds.
            [last] if presence_only => {
                children
                    .entry(last.clone())
                    .or_insert_with(|| Shape::Fields(BTreeMap::new()));
            }
            [first, rest @ ..] => children
                .entry(first.clone())
                .or_insert_with(|| Shape::Fields(BTreeMap::new()))
                .add(rest, presence_only),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::CompiledExpr;

    fn shape(root: &str, sources: &[&str]) -> Shape {
        let compiled: Vec<CompiledExpr> =
            sources.iter().map(|s| CompiledExpr::compile(s)).collect();
        Shape::of(root, compiled.iter().map(|c| &c.references))
    }

    fn fields(entries: Vec<(&str, Shape)>) -> Shape {
        Shape::Fields(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }

    #[test]
    fn paths_merge_and_whole_uses_win() {
        let empty = || fields(vec![]);
        assert_eq!(
            shape(
                "object",
                &[
                    "object.spec.group == 'x'",
                    "has(object.metadata.labels)",
                    "oldObject == null"
                ]
            ),
            fields(vec![
                ("metadata", fields(vec![("labels", empty())])),
                ("spec", fields(vec![("group", Shape::Whole)])),
            ])
        );
        // A selection that ends at `spec` needs all of it, whatever else reads inside it.
        assert_eq!(
            shape(
                "object",
                &["object.spec.group == 'x'", "size(object.spec) > 1"]
            ),
            fields(vec![("spec", Shape::Whole)])
        );
        assert_eq!(shape("object", &["object == oldObject"]), Shape::Whole);
        assert_eq!(shape("oldObject", &["oldObject == null"]), empty());
    }

    #[test]
    fn prunes_to_the_shape() {
        let s = shape(
            "object",
            &["object.spec.group == 'x'", "has(object.metadata.labels)"],
        );
        let json = serde_json::json!({
            "spec": {"group": "g", "names": {"kind": "K"}},
            "metadata": {"name": "n", "labels": {"a": "b"}},
            "status": {}
        });
        assert_eq!(
            s.prune(&json),
            serde_json::json!({"spec": {"group": "g"}, "metadata": {"labels": {}}})
        );
        assert_eq!(Shape::Whole.prune(&json), json);
    }
}
