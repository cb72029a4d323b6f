//! Validation of stored objects against a CRD version's structural schema (SPEC §5 v2,
//! data-aware checks): what the API server would say about each object on its next write
//! after the upgrade, for the keywords a compatibility finding can be about.
//!
//! Hand-written rather than a JSON-Schema crate: a structural schema is not plain JSON Schema.
//! Its Kubernetes extensions decide what a value means (`x-kubernetes-int-or-string`,
//! `-preserve-unknown-fields`, `-embedded-resource`, `-list-type`/`-list-map-keys`, `nullable`,
//! defaulting before validation, pruning of unknown fields, `metadata` handled by the server),
//! and each violation must carry the schema path of the node, in the notation of the findings
//! (`path.rs`), so that it can be matched to the finding it proves. Patterns use the `regex`
//! crate, whose syntax is RE2's, as the API server's Go `regexp` is.
//!
//! CEL rules (`x-kubernetes-validations`) are not evaluated here: their findings are warnings,
//! never the error that would make crdguard read objects.

use std::collections::HashMap;

use regex::Regex;
use serde_json::{Map, Value};

use crate::path::SchemaPath;

/// One way an object fails the desired schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The schema keyword that fails: `required`, `type`, `nullable`, `enum`, `pattern`,
    /// `format`, `maxLength` …, `x-kubernetes-list-type`, or `unknown-field` (a field the
    /// schema does not know, which the server prunes on the next write).
    pub keyword: &'static str,
    /// The schema node, as findings name it: `.spec.rules[*].name`.
    pub schema_path: String,
    /// The value in the object: `.spec.rules[3].name`.
    pub object_path: String,
    pub message: String,
}

/// Validates objects against one schema (`openAPIV3Schema` of one version). Compiled patterns
/// are cached, so one validator should check all the objects of a version.
pub struct Validator<'a> {
    schema: &'a Value,
    patterns: HashMap<&'a str, Option<Regex>>,
}

impl<'a> Validator<'a> {
    pub fn new(schema: &'a Value) -> Self {
        Validator {
            schema,
            patterns: HashMap::new(),
        }
    }

    /// Every violation of the object (a whole custom resource, `apiVersion` to `status`).
    pub fn check(&mut self, object: &Value) -> Vec<Violation> {
        let mut run = Run {
            patterns: &mut self.patterns,
            schema_path: SchemaPath::root(),
            object_path: SchemaPath::root(),
            out: Vec::new(),
        };
        run.node(self.schema, object, Position::Root);
        run.out
    }
}

/// Where a node is: the root object and embedded resources get `apiVersion`, `kind` and
/// `metadata` from the server, whatever their schema says.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Position {
    Root,
    Embedded,
    Inner,
}

struct Run<'v, 'a> {
    patterns: &'v mut HashMap<&'a str, Option<Regex>>,
    schema_path: SchemaPath,
    object_path: SchemaPath,
    out: Vec<Violation>,
}

impl<'a> Run<'_, 'a> {
    fn report(&mut self, keyword: &'static str, message: String) {
        self.out.push(Violation {
            keyword,
            schema_path: self.schema_path.render(),
            object_path: self.object_path.render(),
            message,
        });
    }

    fn node(&mut self, schema: &'a Value, value: &Value, position: Position) {
        let Some(s) = schema.as_object() else {
            return; // `true`, or not a schema: anything goes
        };
        if value.is_null() {
            if !flag(s, "nullable") {
                self.report("nullable", "null is not allowed here".into());
            }
            return;
        }
        if !self.type_matches(s, value) {
            return; // the other keywords do not apply to a value of the wrong type
        }
        self.enumeration(s, value);
        match value {
            Value::String(text) => self.string(s, text),
            Value::Number(_) => self.number(s, value),
            Value::Array(items) => self.array(s, items),
            Value::Object(fields) => {
                let position = if flag(s, "x-kubernetes-embedded-resource") {
                    Position::Embedded
                } else {
                    position
                };
                self.object(s, fields, position);
            }
            Value::Bool(_) | Value::Null => {}
        }
        self.composition(s, value, position);
    }

    fn type_matches(&mut self, s: &Map<String, Value>, value: &Value) -> bool {
        if flag(s, "x-kubernetes-int-or-string") {
            let ok = value.is_string() || value.as_f64().is_some_and(|n| n.fract() == 0.0);
            if !ok {
                self.report(
                    "type",
                    format!("{} is neither an integer nor a string", kind_of(value)),
                );
            }
            return ok;
        }
        let Some(expected) = s.get("type").and_then(Value::as_str) else {
            return true;
        };
        let ok = match expected {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "number" => value.is_number(),
            "integer" => {
                value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|n| n.fract() == 0.0)
            }
            _ => true,
        };
        if !ok {
            self.report(
                "type",
                format!("{} where the schema wants {expected}", kind_of(value)),
            );
        }
        ok
    }

    fn enumeration(&mut self, s: &Map<String, Value>, value: &Value) {
        if let Some(values) = s.get("enum").and_then(Value::as_array)
            && !values.iter().any(|allowed| allowed == value)
        {
            self.report(
                "enum",
                format!("{} is not one of the allowed values", short(value)),
            );
        }
    }

    fn string(&mut self, s: &'a Map<String, Value>, text: &str) {
        let length = text.chars().count() as f64;
        if let Some(max) = number(s, "maxLength")
            && length > max
        {
            self.report("maxLength", format!("{length} characters, more than {max}"));
        }
        if let Some(min) = number(s, "minLength")
            && length < min
        {
            self.report(
                "minLength",
                format!("{length} characters, fewer than {min}"),
            );
        }
        if let Some(pattern) = s.get("pattern").and_then(Value::as_str) {
            let compiled = self
                .patterns
                .entry(pattern)
                .or_insert_with(|| Regex::new(pattern).ok());
            // A pattern the regex engine cannot compile is not judged (the server compiled it).
            if compiled.as_ref().is_some_and(|re| !re.is_match(text)) {
                self.report(
                    "pattern",
                    format!("{} does not match {pattern:?}", short_text(text)),
                );
            }
        }
        if let Some(format) = s.get("format").and_then(Value::as_str)
            && let Some(false) = format_holds(format, text)
        {
            self.report(
                "format",
                format!("{} is not a valid {format}", short_text(text)),
            );
        }
    }

    fn number(&mut self, s: &Map<String, Value>, value: &Value) {
        let Some(n) = value.as_f64() else { return };
        if let Some(max) = number(s, "maximum") {
            let exclusive = flag(s, "exclusiveMaximum");
            if n > max || (exclusive && n == max) {
                self.report("maximum", format!("{n} is above the maximum {max}"));
            }
        }
        if let Some(min) = number(s, "minimum") {
            let exclusive = flag(s, "exclusiveMinimum");
            if n < min || (exclusive && n == min) {
                self.report("minimum", format!("{n} is below the minimum {min}"));
            }
        }
        if let Some(step) = number(s, "multipleOf")
            && step > 0.0
            && (n / step).fract().abs() > 1e-9
        {
            self.report("multipleOf", format!("{n} is not a multiple of {step}"));
        }
    }

    fn array(&mut self, s: &'a Map<String, Value>, items: &[Value]) {
        let count = items.len() as f64;
        if let Some(max) = number(s, "maxItems")
            && count > max
        {
            self.report("maxItems", format!("{count} items, more than {max}"));
        }
        if let Some(min) = number(s, "minItems")
            && count < min
        {
            self.report("minItems", format!("{count} items, fewer than {min}"));
        }
        self.list_type(s, items);
        if let Some(item_schema) = s.get("items") {
            for (i, item) in items.iter().enumerate() {
                let (schema_mark, object_mark) = (self.schema_path.mark(), self.object_path.mark());
                self.schema_path.push_items();
                self.object_path.push_index(i);
                self.node(item_schema, item, Position::Inner);
                self.schema_path.reset(schema_mark);
                self.object_path.reset(object_mark);
            }
        }
    }

    fn list_type(&mut self, s: &Map<String, Value>, items: &[Value]) {
        let duplicates = match s.get("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("set") => first_duplicate(items.iter().map(Some)),
            Some("map") => {
                let keys: Vec<&str> = s
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|k| k.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let tuples: Vec<Value> = items
                    .iter()
                    .map(|item| {
                        Value::Array(
                            keys.iter()
                                .map(|k| item.get(*k).cloned().unwrap_or(Value::Null))
                                .collect(),
                        )
                    })
                    .collect();
                first_duplicate(tuples.iter().map(Some))
            }
            _ => None,
        };
        if let Some((first, second)) = duplicates {
            self.report(
                "x-kubernetes-list-type",
                format!("items {first} and {second} are duplicates, which the list type forbids"),
            );
        }
        if flag(s, "uniqueItems")
            && let Some((first, second)) = first_duplicate(items.iter().map(Some))
        {
            self.report(
                "uniqueItems",
                format!("items {first} and {second} are equal"),
            );
        }
    }

    fn object(
        &mut self,
        s: &'a Map<String, Value>,
        fields: &Map<String, Value>,
        position: Position,
    ) {
        let count = fields.len() as f64;
        if let Some(max) = number(s, "maxProperties")
            && count > max
        {
            self.report(
                "maxProperties",
                format!("{count} properties, more than {max}"),
            );
        }
        if let Some(min) = number(s, "minProperties")
            && count < min
        {
            self.report(
                "minProperties",
                format!("{count} properties, fewer than {min}"),
            );
        }
        let properties = s.get("properties").and_then(Value::as_object);
        for name in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            let defaulted = properties
                .and_then(|p| p.get(name))
                .is_some_and(|field| field.get("default").is_some());
            if !fields.contains_key(name) && !defaulted {
                let mark = self.schema_path.mark();
                let object_mark = self.object_path.mark();
                self.schema_path.push_field(name);
                self.object_path.push_field(name);
                self.report("required", format!("required field {name:?} is missing"));
                self.schema_path.reset(mark);
                self.object_path.reset(object_mark);
            }
        }
        let preserves = flag(s, "x-kubernetes-preserve-unknown-fields");
        let additional = s.get("additionalProperties");
        for (name, value) in fields {
            if position != Position::Inner
                && matches!(name.as_str(), "apiVersion" | "kind" | "metadata")
            {
                continue; // the server validates these itself, whatever the schema says
            }
            let (schema_mark, object_mark) = (self.schema_path.mark(), self.object_path.mark());
            self.object_path.push_field(name);
            if let Some(field_schema) = properties.and_then(|p| p.get(name)) {
                self.schema_path.push_field(name);
                self.node(field_schema, value, Position::Inner);
            } else if let Some(value_schema) = additional.filter(|a| a.is_object()) {
                self.schema_path.push_map_values();
                self.node(value_schema, value, Position::Inner);
            } else if !preserves && additional != Some(&Value::Bool(true)) {
                self.schema_path.push_field(name);
                self.report(
                    "unknown-field",
                    format!("field {name:?} is not in the schema: the server prunes it on the next write"),
                );
            }
            self.schema_path.reset(schema_mark);
            self.object_path.reset(object_mark);
        }
    }

    /// `allOf` constrains the same value further; `anyOf`/`oneOf`/`not` count the branches
    /// that pass. Branch violations are reported once, at the node, by keyword.
    fn composition(&mut self, s: &'a Map<String, Value>, value: &Value, position: Position) {
        for branch in s
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.branch_value_checks(branch, value, position);
        }
        let passes = |run: &mut Self, branch: &'a Value| {
            let mut probe = Run {
                patterns: &mut *run.patterns,
                schema_path: run.schema_path.clone(),
                object_path: run.object_path.clone(),
                out: Vec::new(),
            };
            probe.branch_value_checks(branch, value, position);
            probe.out.is_empty()
        };
        if let Some(branches) = s.get("anyOf").and_then(Value::as_array)
            && !branches.is_empty()
            && !branches.iter().any(|b| passes(self, b))
        {
            self.report("anyOf", "matches none of the anyOf alternatives".into());
        }
        if let Some(branches) = s.get("oneOf").and_then(Value::as_array) {
            let matching = branches.iter().filter(|b| passes(self, b)).count();
            if !branches.is_empty() && matching != 1 {
                self.report(
                    "oneOf",
                    format!("matches {matching} of the oneOf alternatives, not exactly one"),
                );
            }
        }
        if let Some(branch) = s.get("not")
            && passes(self, branch)
        {
            self.report("not", "matches the schema under not".into());
        }
    }

    /// A composition branch of a structural schema holds value validations only: unknown
    /// fields are the enclosing node's business, so a branch never reports them.
    fn branch_value_checks(&mut self, branch: &'a Value, value: &Value, position: Position) {
        let before = self.out.len();
        self.node(branch, value, position);
        let mut i = before;
        while i < self.out.len() {
            if self.out[i].keyword == "unknown-field" {
                self.out.remove(i);
            } else {
                i += 1;
            }
        }
    }
}

fn flag(s: &Map<String, Value>, key: &str) -> bool {
    s.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn number(s: &Map<String, Value>, key: &str) -> Option<f64> {
    s.get(key).and_then(Value::as_f64)
}

fn first_duplicate<'v>(items: impl Iterator<Item = Option<&'v Value>>) -> Option<(usize, usize)> {
    let items: Vec<&Value> = items.flatten().collect();
    for (i, a) in items.iter().enumerate() {
        if let Some(j) = items[i + 1..].iter().position(|b| a == b) {
            return Some((i, i + 1 + j));
        }
    }
    None
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn short(value: &Value) -> String {
    match value {
        Value::String(text) => short_text(text),
        other => {
            let text = other.to_string();
            if text.len() > 60 {
                format!("{}…", truncate(&text, 60))
            } else {
                text
            }
        }
    }
}

fn short_text(text: &str) -> String {
    if text.chars().count() > 60 {
        format!("{:?}…", truncate(text, 60))
    } else {
        format!("{text:?}")
    }
}

fn truncate(text: &str, chars: usize) -> &str {
    text.char_indices()
        .nth(chars)
        .map_or(text, |(i, _)| &text[..i])
}

/// The formats the API server checks (k8s.io/kube-openapi `strfmt` as used by apiextensions),
/// for those that can be judged without a table: `Some(false)` when the value is invalid,
/// `None` for a format not checked here.
fn format_holds(format: &str, text: &str) -> Option<bool> {
    use std::net::{Ipv4Addr, Ipv6Addr};
    Some(match format {
        "ipv4" => text.parse::<Ipv4Addr>().is_ok(),
        "ipv6" => text.parse::<Ipv6Addr>().is_ok(),
        "cidr" => text.split_once('/').is_some_and(|(ip, bits)| {
            let bits: Option<u8> = bits.parse().ok();
            match (ip.parse::<Ipv4Addr>(), ip.parse::<Ipv6Addr>(), bits) {
                (Ok(_), _, Some(b)) => b <= 32,
                (_, Ok(_), Some(b)) => b <= 128,
                _ => false,
            }
        }),
        "uuid" => is_uuid(text),
        "hostname" => is_hostname(text),
        _ => return None,
    })
}

fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_hostname(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 255
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn violations(schema: Value, object: Value) -> Vec<(String, &'static str, String)> {
        Validator::new(&schema)
            .check(&object)
            .into_iter()
            .map(|v| (v.schema_path, v.keyword, v.object_path))
            .collect()
    }

    fn spec(properties: Value) -> Value {
        json!({"type": "object", "properties": {"spec": properties}})
    }

    #[test]
    fn a_valid_object_has_no_violations_and_server_fields_are_left_to_the_server() {
        let schema = spec(
            json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "maxLength": 5}}}),
        );
        let object = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a", "labels": {"b": "c"}}, "spec": {"name": "abc"}});
        assert!(violations(schema, object).is_empty());
    }

    #[test]
    fn required_fields_count_defaults_as_present() {
        let schema = spec(
            json!({"type": "object", "required": ["name", "mode"], "properties": {
            "name": {"type": "string"}, "mode": {"type": "string", "default": "A"}}}),
        );
        assert_eq!(
            violations(schema, json!({"spec": {}})),
            vec![(".spec.name".into(), "required", ".spec.name".into())]
        );
    }

    #[test]
    fn limits_enum_pattern_and_format_name_the_node_and_the_value() {
        let schema = spec(
            json!({"type": "object", "properties": {"rules": {"type": "array", "maxItems": 2, "items": {
            "type": "object", "properties": {
                "name": {"type": "string", "minLength": 2, "pattern": "^[a-z]+$"},
                "mode": {"type": "string", "enum": ["A", "B"]},
                "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                "ip": {"type": "string", "format": "ipv4"}}}}}}),
        );
        let object = json!({"spec": {"rules": [
            {"name": "ok", "mode": "A", "port": 80, "ip": "10.0.0.1"},
            {"name": "x", "mode": "C", "port": 0, "ip": "10.0.0"},
            {"name": "Bad", "port": 70000}]}});
        let found = violations(schema, object);
        let keywords: Vec<&str> = found.iter().map(|v| v.1).collect();
        assert_eq!(
            keywords,
            [
                "maxItems",
                "minLength",
                "enum",
                "minimum",
                "format",
                "pattern",
                "maximum"
            ]
        );
        assert_eq!(
            found[1],
            (
                ".spec.rules[*].name".into(),
                "minLength",
                ".spec.rules[1].name".into()
            )
        );
        assert_eq!(found[6].2, ".spec.rules[2].port");
    }

    #[test]
    fn types_nullable_and_int_or_string() {
        let schema = spec(json!({"type": "object", "properties": {
            "count": {"type": "integer"},
            "note": {"type": "string", "nullable": true},
            "label": {"type": "string"},
            "port": {"x-kubernetes-int-or-string": true}}}));
        let found = violations(
            schema.clone(),
            json!({"spec": {"count": 1.5, "note": null, "label": null, "port": "http"}}),
        );
        assert_eq!(
            found.iter().map(|v| v.1).collect::<Vec<_>>(),
            ["type", "nullable"]
        );
        assert!(violations(schema.clone(), json!({"spec": {"count": 2, "port": 8080}})).is_empty());
        assert_eq!(
            violations(schema, json!({"spec": {"port": true}}))[0].1,
            "type"
        );
    }

    #[test]
    fn unknown_fields_are_pruned_unless_the_node_preserves_or_maps_them() {
        let schema = spec(json!({"type": "object", "properties": {
            "known": {"type": "string"},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 3}}}}));
        let found = violations(
            schema,
            json!({"spec": {"known": "a", "gone": 1, "free": {"any": 1}, "labels": {"a": "b", "c": "long"}}}),
        );
        assert_eq!(
            found,
            vec![
                (".spec.gone".into(), "unknown-field", ".spec.gone".into()),
                (
                    ".spec.labels.*".into(),
                    "maxLength",
                    ".spec.labels.c".into()
                ),
            ]
        );
    }

    #[test]
    fn list_types_set_and_map_forbid_duplicates() {
        let schema = spec(json!({"type": "object", "properties": {
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                      "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}}}}));
        let found = violations(
            schema.clone(),
            json!({"spec": {"tags": ["a", "a"], "ports": [{"name": "x", "port": 1}, {"name": "x", "port": 2}]}}),
        );
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|v| v.1 == "x-kubernetes-list-type"));
        assert!(
            violations(
                schema,
                json!({"spec": {"tags": ["a", "b"], "ports": [{"name": "x"}, {"name": "y"}]}})
            )
            .is_empty()
        );
    }

    #[test]
    fn composition_counts_branches() {
        let schema = spec(json!({"type": "object", "properties": {
            "a": {"type": "object", "properties": {"x": {"type": "string"}, "y": {"type": "string"}}, "oneOf": [{"required": ["x"]}, {"required": ["y"]}]},
            "b": {"type": "string", "not": {"enum": ["forbidden"]}},
            "c": {"type": "integer", "allOf": [{"minimum": 5}]}}}));
        let found = violations(
            schema.clone(),
            json!({"spec": {"a": {"x": "1", "y": "2"}, "b": "forbidden", "c": 3}}),
        );
        assert_eq!(
            found.iter().map(|v| v.1).collect::<Vec<_>>(),
            ["oneOf", "not", "minimum"]
        );
        assert!(
            violations(
                schema,
                json!({"spec": {"a": {"x": "1"}, "b": "fine", "c": 7}})
            )
            .is_empty()
        );
    }

    #[test]
    fn embedded_resources_get_their_server_fields() {
        let schema = spec(json!({"type": "object", "properties": {"template": {
            "type": "object", "x-kubernetes-embedded-resource": true, "properties": {"spec": {"type": "object"}}}}}));
        let object = json!({"spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}}});
        assert!(violations(schema, object).is_empty());
    }
}
