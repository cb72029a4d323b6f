//! The structural walk: old and new schema in lockstep, node by node.
//!
//! At each node the walk classifies every keyword once ([`Keyword::of`]), hands the keywords
//! whose value changed to the checks, and recurses into the sub-schemas both sides have:
//! `properties` (paired by name: by position first, by hash lookup after, see `pairs.rs`), `items`, `additionalProperties`,
//! `patternProperties`, `allOf`/`anyOf`/`oneOf` and `not`. Fields only one side has become
//! `field-removed` / `field-added` findings and are not descended into: a new field cannot break
//! existing objects (a required field that comes with a new optional parent is fine), so only its
//! CEL rules are listed, as information.
//!
//! Non-object schema nodes (`true`, numbers, strings where a schema belongs) are opaque: compared
//! for equality only, never an error and never a panic.

use serde_json::{Map, Value};

use crate::check::Check;
use crate::checks;
use crate::finding::{Finding, Severity};
use crate::json::{flag, same, show, str_of, strings_of};
use crate::keyword::{Keyword, KeywordSet};
use crate::pairs::pairs;
use crate::path::SchemaPath;

const PRESERVE_UNKNOWN: &str = "x-kubernetes-preserve-unknown-fields";

/// How deep the walk descends. Real CRD schemas stay below ~30 levels and serde_json refuses
/// input nested deeper than 128; the bound keeps values built by code from exhausting the
/// stack (a stack overflow aborts, it cannot be caught).
const MAX_DEPTH: usize = 128;

/// Compares one schema pair of one API version and collects findings.
pub(crate) struct Walker<'v> {
    version: &'v str,
    pub(crate) path: SchemaPath,
    findings: Vec<Finding>,
    depth: usize,
}

impl<'v> Walker<'v> {
    pub(crate) fn new(version: &'v str) -> Self {
        Walker {
            version,
            path: SchemaPath::root(),
            findings: Vec::new(),
            depth: 0,
        }
    }

    /// Reports a finding at the current path.
    pub(crate) fn report(&mut self, severity: Severity, check: Check, message: impl Into<String>) {
        self.findings.push(Finding::new(
            severity,
            check,
            self.version,
            self.path.render(),
            message,
        ));
    }

    /// Reports a finding at the path of the child property `field` of the current node.
    pub(crate) fn report_field(
        &mut self,
        field: &str,
        severity: Severity,
        check: Check,
        message: impl Into<String>,
    ) {
        let mark = self.path.mark();
        self.path.push_field(field);
        self.report(severity, check, message);
        self.path.reset(mark);
    }

    pub(crate) fn finish(self) -> Vec<Finding> {
        self.findings
    }

    /// Compares two schema nodes at the current path.
    pub(crate) fn compare(&mut self, old: &Value, new: &Value) {
        if self.depth >= MAX_DEPTH {
            if old != new {
                self.report(
                    Severity::Warning,
                    Check::UnhandledChange,
                    format!("schema nested deeper than {MAX_DEPTH} levels changed; not analysed"),
                );
            }
            return;
        }
        self.depth += 1;
        self.compare_at_depth(old, new);
        self.depth -= 1;
    }

    fn compare_at_depth(&mut self, old: &Value, new: &Value) {
        match (old, new) {
            (Value::Object(o), Value::Object(n)) => self.compare_objects(o, n),
            _ if same(old, new) => {}
            _ => self.report(
                Severity::Warning,
                Check::UnhandledChange,
                format!(
                    "schema changed from {} to {}; crdguard cannot analyse a schema that is not an object",
                    show(old),
                    show(new)
                ),
            ),
        }
    }

    fn compare_objects(&mut self, o: &Map<String, Value>, n: &Map<String, Value>) {
        let mut changed = KeywordSet::default();
        let mut structural = KeywordSet::default();
        for (key, old, new) in pairs(o, n) {
            let keyword = Keyword::of(key);
            if keyword.is_structural() {
                structural.insert(keyword);
            } else if old != new {
                self.note_change(&mut changed, keyword, key, old, new);
            }
        }
        if !changed.is_empty() {
            checks::run(self, o, n, changed);
        }
        if !structural.is_empty() {
            self.walk_children(o, n, structural);
        }
    }

    fn note_change(
        &mut self,
        changed: &mut KeywordSet,
        keyword: Keyword,
        key: &str,
        old: Option<&Value>,
        new: Option<&Value>,
    ) {
        if keyword == Keyword::Unknown {
            checks::docs::unknown_keyword(self, key, old, new);
        } else {
            changed.insert(keyword);
        }
    }

    fn walk_children(
        &mut self,
        o: &Map<String, Value>,
        n: &Map<String, Value>,
        present: KeywordSet,
    ) {
        if present.contains(Keyword::Properties) {
            self.properties(o, n);
        }
        if present.contains(Keyword::Items) {
            self.items(o.get("items"), n.get("items"));
        }
        if present.contains(Keyword::AdditionalProperties) {
            self.additional_properties(o, n);
        }
        if present.contains(Keyword::PatternProperties) {
            self.pattern_properties(o, n);
        }
        for (keyword, name) in [
            (Keyword::AllOf, "allOf"),
            (Keyword::AnyOf, "anyOf"),
            (Keyword::OneOf, "oneOf"),
        ] {
            if present.contains(keyword) {
                self.branches(name, o.get(name), n.get(name));
            }
        }
        if present.contains(Keyword::Not) {
            checks::composition::not(self, o.get("not"), n.get("not"));
        }
    }

    fn properties(&mut self, o: &Map<String, Value>, n: &Map<String, Value>) {
        let (old, new) = (o.get("properties"), n.get("properties"));
        let empty = Map::new();
        let (old_props, new_props) = match (old, new) {
            (None | Some(Value::Object(_)), None | Some(Value::Object(_))) => (
                old.and_then(Value::as_object).unwrap_or(&empty),
                new.and_then(Value::as_object).unwrap_or(&empty),
            ),
            // `properties` that is not a map: nothing to walk.
            (Some(a), Some(b)) => return self.compare(a, b),
            _ => return,
        };
        for (name, old_field, new_field) in pairs(old_props, new_props) {
            let mark = self.path.mark();
            self.path.push_field(name);
            match (old_field, new_field) {
                (Some(a), Some(b)) => self.compare(a, b),
                (Some(a), None) => self.field_removed(name, a, n),
                (None, Some(b)) => self.field_added(name, b, o, n),
                (None, None) => {}
            }
            self.path.reset(mark);
        }
    }

    /// The current path is the removed field's.
    fn field_removed(&mut self, name: &str, old_field: &Value, new_parent: &Map<String, Value>) {
        let was = describe_type(old_field);
        if flag(new_parent, PRESERVE_UNKNOWN) {
            // The API server keeps the value (the parent preserves unknown fields), so stored
            // objects survive; clients that rely on the field's validation lose it.
            self.report(
                Severity::Warning,
                Check::FieldRemoved,
                format!(
                    "field {name:?} removed (was {was}); its parent preserves unknown fields, so stored values are kept but no longer validated"
                ),
            );
        } else {
            self.report(
                Severity::Error,
                Check::FieldRemoved,
                format!(
                    "field {name:?} removed (was {was}); the API server prunes it from stored objects"
                ),
            );
        }
    }

    /// The current path is the added field's.
    fn field_added(
        &mut self,
        name: &str,
        new_field: &Value,
        old_parent: &Map<String, Value>,
        new_parent: &Map<String, Value>,
    ) {
        let newly_required = strings_of(new_parent, "required").contains(&name)
            && !strings_of(old_parent, "required").contains(&name);
        // A new required field is reported once, by `required-field-added`.
        if !newly_required {
            let now = describe_type(new_field);
            if opens_unknown_fields(old_parent) {
                // The parent used to accept anything: objects may already hold a value under
                // this name that was never validated and may not match the new schema.
                self.report(
                    Severity::Warning,
                    Check::FieldAdded,
                    format!(
                        "field {name:?} added ({now}) under an object that accepted unknown fields; existing values under this name are validated from now on"
                    ),
                );
            } else {
                self.report(
                    Severity::Info,
                    Check::FieldAdded,
                    format!("optional field {name:?} added ({now})"),
                );
            }
        }
        self.list_new_rules(new_field);
    }

    /// Lists the CEL rules of a schema that has no counterpart on the old side (info only).
    fn list_new_rules(&mut self, node: &Value) {
        let Value::Object(map) = node else { return };
        if self.depth >= MAX_DEPTH {
            return;
        }
        self.depth += 1;
        self.list_rules_at_depth(map);
        self.depth -= 1;
    }

    fn list_rules_at_depth(&mut self, map: &Map<String, Value>) {
        checks::cel::rules_of_new_field(self, map);
        if let Some(Value::Object(props)) = map.get("properties") {
            for (name, child) in props {
                let mark = self.path.mark();
                self.path.push_field(name);
                self.list_new_rules(child);
                self.path.reset(mark);
            }
        }
        let mark = self.path.mark();
        match map.get("items") {
            Some(Value::Array(entries)) => {
                for (i, child) in entries.iter().enumerate() {
                    self.path.push_index(i);
                    self.list_new_rules(child);
                    self.path.reset(mark);
                }
            }
            Some(child) => {
                self.path.push_items();
                self.list_new_rules(child);
                self.path.reset(mark);
            }
            None => {}
        }
        if let Some(child @ Value::Object(_)) = map.get("additionalProperties") {
            self.path.push_map_values();
            self.list_new_rules(child);
            self.path.reset(mark);
        }
    }

    fn items(&mut self, old: Option<&Value>, new: Option<&Value>) {
        let mark = self.path.mark();
        match (old, new) {
            (None, None) => {}
            (Some(Value::Array(a)), Some(Value::Array(b))) => {
                for i in 0..a.len().max(b.len()) {
                    self.path.push_index(i);
                    match (a.get(i), b.get(i)) {
                        (Some(x), Some(y)) => self.compare(x, y),
                        (Some(_), None) => self.report(
                            Severity::Info,
                            Check::ItemsChanged,
                            format!("tuple entry {i} no longer has a schema of its own"),
                        ),
                        (None, Some(_)) => self.report(
                            Severity::Error,
                            Check::ItemsChanged,
                            format!("tuple entry {i} is validated by a new schema"),
                        ),
                        (None, None) => {}
                    }
                    self.path.reset(mark);
                }
            }
            (Some(a), Some(b)) if a.is_array() != b.is_array() => self.report(
                Severity::Error,
                Check::ItemsChanged,
                "items changed between one schema for all entries and a schema per position",
            ),
            (Some(a), Some(b)) => {
                self.path.push_items();
                self.compare(a, b);
                self.path.reset(mark);
            }
            (None, Some(_)) => self.report(
                Severity::Error,
                Check::ItemsChanged,
                "list entries were not constrained and now must match an items schema",
            ),
            (Some(_), None) => self.report(
                Severity::Info,
                Check::ItemsChanged,
                "items schema removed: list entries are no longer constrained",
            ),
        }
    }

    fn additional_properties(&mut self, o: &Map<String, Value>, n: &Map<String, Value>) {
        use Extra::{Closed, Open, Schema};
        let (old, new) = (extra(o), extra(n));
        let check = Check::AdditionalPropertiesChanged;
        match (old, new) {
            (Closed, Closed) | (Open, Open) => {}
            (Schema(a), Schema(b)) => {
                let mark = self.path.mark();
                self.path.push_map_values();
                self.compare(a, b);
                self.path.reset(mark);
            }
            (Closed, Open | Schema(_)) | (Schema(_), Open) => self.report(
                Severity::Info,
                check,
                format!(
                    "additionalProperties loosened from {} to {}",
                    old.describe(),
                    new.describe()
                ),
            ),
            (Open, Schema(_)) | (Open | Schema(_), Closed) => self.report(
                Severity::Error,
                check,
                format!(
                    "additionalProperties narrowed from {} to {}; existing map entries may no longer be accepted",
                    old.describe(),
                    new.describe()
                ),
            ),
        }
    }

    fn pattern_properties(&mut self, o: &Map<String, Value>, n: &Map<String, Value>) {
        let empty = Map::new();
        let old = o
            .get("patternProperties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let new = n
            .get("patternProperties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        for (pattern, a) in old {
            let mark = self.path.mark();
            self.path.push_pattern(pattern);
            match new.get(pattern) {
                Some(b) => self.compare(a, b),
                None => self.report(
                    Severity::Error,
                    Check::FieldRemoved,
                    format!("patternProperties entry {pattern:?} removed"),
                ),
            }
            self.path.reset(mark);
        }
        for pattern in new.keys() {
            if !old.contains_key(pattern) {
                let mark = self.path.mark();
                self.path.push_pattern(pattern);
                // Keys matching the pattern may already exist, unvalidated until now.
                self.report(
                    Severity::Warning,
                    Check::FieldAdded,
                    format!("patternProperties entry {pattern:?} added; existing matching keys are validated from now on"),
                );
                self.path.reset(mark);
            }
        }
    }

    /// `allOf` / `anyOf` / `oneOf`: entry by entry when the lists are as long as before, else
    /// by membership (see [`checks::composition`]).
    fn branches(&mut self, keyword: &str, old: Option<&Value>, new: Option<&Value>) {
        let empty: &[Value] = &[];
        let (a, b) = match (old, new) {
            (None | Some(Value::Array(_)), None | Some(Value::Array(_))) => (
                old.and_then(Value::as_array).map_or(empty, Vec::as_slice),
                new.and_then(Value::as_array).map_or(empty, Vec::as_slice),
            ),
            (Some(x), Some(y)) => return self.compare(x, y),
            _ => return,
        };
        if a.len() == b.len() && !a.is_empty() {
            if a == b || a.iter().all(|x| b.iter().any(|y| same(x, y))) {
                return; // unchanged, or only reordered
            }
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                let mark = self.path.mark();
                self.path.push_branch(keyword, i);
                self.compare(x, y);
                self.path.reset(mark);
            }
            return;
        }
        checks::composition::membership(self, keyword, a, b);
    }
}

/// What a node says about keys that `properties` does not name.
#[derive(Clone, Copy)]
enum Extra<'a> {
    /// `additionalProperties` absent or `false`: unknown keys are pruned or rejected.
    Closed,
    /// `additionalProperties: true`.
    Open,
    Schema(&'a Value),
}

impl Extra<'_> {
    fn describe(self) -> &'static str {
        match self {
            Extra::Closed => "false (or absent)",
            Extra::Open => "true",
            Extra::Schema(_) => "a schema",
        }
    }
}

fn extra(map: &Map<String, Value>) -> Extra<'_> {
    match map.get("additionalProperties") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Extra::Closed,
        Some(Value::Bool(true)) => Extra::Open,
        Some(schema) => Extra::Schema(schema),
    }
}

/// Whether a node accepted keys its `properties` did not name, without validating them.
fn opens_unknown_fields(map: &Map<String, Value>) -> bool {
    flag(map, PRESERVE_UNKNOWN) || matches!(extra(map), Extra::Open)
}

/// `type string`, `type object`, or `no type` for messages.
fn describe_type(schema: &Value) -> String {
    match schema.as_object().and_then(|m| str_of(m, "type")) {
        Some(t) => format!("type {t}"),
        None => "no type".to_string(),
    }
}
