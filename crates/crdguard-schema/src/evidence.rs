//! Data-aware severity (SPEC §5 v2): the stored objects of a CRD, checked against the desired
//! schema, decide the findings that are about values.
//!
//! The objects of one served version are streamed through an [`ObjectsCollector`] (it keeps
//! counts and at most [`NAMED_PER_NODE`] named violations per schema node and keyword, so
//! memory does not grow with the number of objects); the resulting [`ObjectEvidence`] then
//! judges the findings of that version ([`apply`]):
//! - a finding that the objects can decide and that no object violates becomes a `warning`,
//!   with the proof (`N objects checked`);
//! - one that objects violate stays an `error` and names them;
//! - a finding the objects cannot decide (defaults, versions, scope, anything under a
//!   composition branch) keeps its severity.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::check::Check;
use crate::finding::{AdjustedBy, Finding, Severity};
use crate::validate::{Validator, Violation};

/// How many violating objects are named per schema node and keyword; the rest are counted.
pub const NAMED_PER_NODE: usize = 20;

/// One object that fails the desired schema (SPEC §3 v2 item `objects.violations`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectViolation {
    /// `namespace/name`, or `name` for a cluster-scoped object.
    pub object: String,
    pub version: String,
    /// The finding's check this violation proves.
    pub check: Check,
    /// Where in the object, with indices: `.spec.rules[3].name`.
    pub path: String,
    pub message: String,
}

/// What the objects of one served version say, node by node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectEvidence {
    pub version: String,
    pub checked: usize,
    /// Per (schema path, keyword): how many objects violate, and the first of them.
    nodes: BTreeMap<(String, &'static str), (usize, Vec<Violating>)>,
}

/// A violating object as collected: which finding it proves, and so its check, is only known
/// when a finding is judged ([`ObjectEvidence::prove`]).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Violating {
    object: String,
    path: String,
    message: String,
}

/// Streams objects through the validator of one version's desired schema.
pub struct ObjectsCollector<'a> {
    validator: Validator<'a>,
    evidence: ObjectEvidence,
}

impl<'a> ObjectsCollector<'a> {
    /// `schema` is the desired `openAPIV3Schema` of `version`.
    pub fn new(version: &str, schema: &'a Value) -> Self {
        ObjectsCollector {
            validator: Validator::new(schema),
            evidence: ObjectEvidence {
                version: version.to_string(),
                ..ObjectEvidence::default()
            },
        }
    }

    pub fn add(&mut self, object: &Value) {
        self.evidence.checked += 1;
        let name = object_name(object);
        let mut seen: Vec<(String, &'static str)> = Vec::new();
        for Violation {
            keyword,
            schema_path,
            object_path,
            message,
        } in self.validator.check(object)
        {
            let key = (schema_path, keyword);
            // An object counts once per node and keyword, however many list entries fail.
            let first_for_object = !seen.contains(&key);
            let (count, named) = self.evidence.nodes.entry(key.clone()).or_default();
            if first_for_object {
                *count += 1;
                seen.push(key);
                if named.len() < NAMED_PER_NODE {
                    named.push(Violating {
                        object: name.clone(),
                        path: object_path,
                        message,
                    });
                }
            }
        }
    }

    pub fn finish(self) -> ObjectEvidence {
        self.evidence
    }
}

fn object_name(object: &Value) -> String {
    let metadata = &object["metadata"];
    let name = metadata["name"].as_str().unwrap_or("(unnamed)");
    match metadata["namespace"].as_str() {
        Some(namespace) if !namespace.is_empty() => format!("{namespace}/{name}"),
        _ => name.to_string(),
    }
}

/// The keywords whose violations prove a finding, and whether they count below its path too.
fn proving_keywords(check: Check) -> Option<(&'static [&'static str], Scope)> {
    use Scope::{Below, Exact};
    Some(match check {
        Check::RequiredFieldAdded => (&["required"], Exact),
        Check::FieldRemoved
        | Check::PreserveUnknownFieldsRemoved
        | Check::AdditionalPropertiesChanged => (&["unknown-field"], Below),
        Check::TypeChanged | Check::IntOrStringChanged => (&["type"], Exact),
        Check::NullableRemoved => (&["nullable"], Exact),
        Check::EnumValueRemoved | Check::EnumAdded => (&["enum"], Exact),
        Check::PatternChanged => (&["pattern"], Exact),
        Check::FormatChanged => (&["format"], Exact),
        Check::MaximumTightened => (&["maximum"], Exact),
        Check::MinimumTightened => (&["minimum"], Exact),
        Check::MaxLengthTightened => (&["maxLength"], Exact),
        Check::MinLengthTightened => (&["minLength"], Exact),
        Check::MaxItemsTightened => (&["maxItems"], Exact),
        Check::MinItemsTightened => (&["minItems"], Exact),
        Check::MaxPropertiesTightened => (&["maxProperties"], Exact),
        Check::MinPropertiesTightened => (&["minProperties"], Exact),
        Check::MultipleOfChanged => (&["multipleOf"], Exact),
        Check::UniqueItemsAdded => (&["uniqueItems"], Exact),
        Check::ListTypeChanged | Check::ListMapKeysChanged => (&["x-kubernetes-list-type"], Exact),
        Check::ItemsChanged => (&[], Below),
        _ => return None,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    Exact,
    /// The node and everything under it (an empty keyword list then means any keyword).
    Below,
}

fn path_matches(finding: &str, violation: &str, scope: Scope) -> bool {
    match scope {
        Scope::Exact => finding == violation,
        Scope::Below => {
            finding == "."
                || violation
                    .strip_prefix(finding)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        }
    }
}

/// Whether the objects can decide this finding: a value check, at a path the validator walks
/// (composition branches and `patternProperties` steps are not).
pub fn decidable_by_objects(finding: &Finding) -> bool {
    proving_keywords(finding.check).is_some() && !finding.path.contains('(')
}

/// What judging one finding with the objects found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub violating: usize,
    pub named: Vec<ObjectViolation>,
}

/// Whether only the number of stored objects can decide this finding: a default added,
/// changed or removed changes what existing objects read as, which no value in them proves or
/// disproves; with no stored object at all, nothing existing changes.
pub fn decidable_by_count(finding: &Finding) -> bool {
    matches!(
        finding.check,
        Check::DefaultAdded | Check::DefaultChanged | Check::DefaultRemoved
    )
}

/// Whether a finding is one the objects should judge: an error of the comparison (also when
/// ratcheting lowered it since: the objects are better evidence than the rule), of a value
/// check the validator can prove, or one that no stored object at all settles.
pub fn judged_by_objects(finding: &Finding) -> bool {
    finding.original_severity() == Severity::Error
        && (decidable_by_objects(finding) || decidable_by_count(finding))
}

/// Judges the findings of `evidence.version` that objects can decide ([`judged_by_objects`]):
/// one no object violates becomes (or stays) a `warning`, with the count as proof; one that
/// objects violate is an `error`, even where the server ratchets (ratcheting keeps those
/// objects writable only while their invalid part is left as it is). Returns the violating
/// objects, named.
pub fn apply(findings: &mut [Finding], evidence: &ObjectEvidence) -> Vec<ObjectViolation> {
    let mut violations = Vec::new();
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    for finding in findings
        .iter_mut()
        .filter(|f| f.version == evidence.version && judged_by_objects(f))
    {
        if !decidable_by_objects(finding) {
            // Counted only: no stored object means nothing existing reads differently; any
            // stored object might, so the finding keeps its severity and says how many.
            if evidence.checked == 0 {
                finding.adjust(
                    Severity::Warning,
                    AdjustedBy::Objects,
                    format!(
                        "no stored objects at {}: no existing object reads differently, only \
                         new ones get the new default",
                        evidence.version
                    ),
                );
            } else {
                finding.message = format!(
                    "{}; {} stored object{} at {} read differently after the change",
                    finding.message,
                    evidence.checked,
                    plural(evidence.checked),
                    evidence.version
                );
            }
            continue;
        }
        let proof = evidence.prove(finding);
        if proof.violating == 0 {
            let reason = format!(
                "{} stored object{} checked at {}, none violates the new schema here",
                evidence.checked,
                plural(evidence.checked),
                evidence.version
            );
            if finding.severity == Severity::Warning {
                finding.message = format!("{}; {reason}", finding.message);
            } else {
                finding.adjust(Severity::Warning, AdjustedBy::Objects, reason);
            }
        } else {
            let shown = proof.named.len();
            let count = format!(
                "{} of {} stored object{} violate{} it{}",
                proof.violating,
                evidence.checked,
                plural(evidence.checked),
                if proof.violating == 1 { "s" } else { "" },
                if proof.violating > shown {
                    format!(" ({shown} named)")
                } else {
                    String::new()
                }
            );
            finding.message = format!("{}; {count}", finding.message);
            finding.adjust(
                Severity::Error,
                AdjustedBy::Objects,
                format!("{count}: they fail their next write that touches the invalid part"),
            );
            violations.extend(proof.named);
        }
    }
    violations
}

impl ObjectEvidence {
    /// The objects that violate what this finding is about.
    pub fn prove(&self, finding: &Finding) -> Proof {
        let Some((keywords, scope)) = proving_keywords(finding.check) else {
            return Proof {
                violating: 0,
                named: Vec::new(),
            };
        };
        let mut violating = 0;
        let mut named: Vec<ObjectViolation> = Vec::new();
        for ((path, keyword), (count, objects)) in &self.nodes {
            let keyword_fits = keywords.is_empty() || keywords.contains(keyword);
            if keyword_fits && path_matches(&finding.path, path, scope) {
                violating += count;
                for object in objects {
                    if named.len() < NAMED_PER_NODE
                        && !named.iter().any(|n| n.object == object.object)
                    {
                        named.push(ObjectViolation {
                            object: object.object.clone(),
                            version: self.version.clone(),
                            check: finding.check,
                            path: object.path.clone(),
                            message: object.message.clone(),
                        });
                    }
                }
            }
        }
        Proof { violating, named }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object", "required": ["to"], "properties": {
            "to": {"type": "string", "maxLength": 5}, "mode": {"type": "string"}}}}})
    }

    fn object(name: &str, spec: Value) -> Value {
        json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": name, "namespace": "ns"}, "spec": spec})
    }

    fn finding(check: Check, path: &str) -> Finding {
        Finding::new(Severity::Error, check, "v1", path, "changed")
    }

    #[test]
    fn findings_no_object_violates_become_warnings_with_the_count() {
        let schema = schema();
        let mut collector = ObjectsCollector::new("v1", &schema);
        for i in 0..200 {
            collector.add(&object(&format!("o{i}"), json!({"to": "abc"})));
        }
        let evidence = collector.finish();
        let mut findings = vec![
            finding(Check::RequiredFieldAdded, ".spec.to"),
            finding(Check::MaxLengthTightened, ".spec.to"),
            finding(Check::DefaultChanged, ".spec.mode"),
        ];
        assert!(apply(&mut findings, &evidence).is_empty());
        assert_eq!(findings[0].severity, Severity::Warning);
        assert!(
            findings[0].adjustments[0]
                .reason
                .starts_with("200 stored objects checked")
        );
        assert_eq!(findings[1].severity, Severity::Warning);
        assert_eq!(
            findings[2].severity,
            Severity::Error,
            "defaults are not decided by objects' values"
        );
        assert!(findings[2].message.contains("200 stored objects at v1"));
    }

    #[test]
    fn without_any_stored_object_a_changed_default_changes_nothing_existing() {
        let schema = schema();
        let evidence = ObjectsCollector::new("v1", &schema).finish();
        let mut findings = vec![
            finding(Check::DefaultAdded, ".spec.shards"),
            finding(Check::ScopeChanged, "."),
        ];
        assert!(apply(&mut findings, &evidence).is_empty());
        assert_eq!(findings[0].severity, Severity::Warning);
        assert!(
            findings[0].adjustments[0]
                .reason
                .starts_with("no stored objects at v1"),
            "{:?}",
            findings[0].adjustments
        );
        assert_eq!(findings[1].severity, Severity::Error, "not about values");
    }

    #[test]
    fn violating_objects_keep_the_error_and_are_named_up_to_the_limit() {
        let schema = schema();
        let mut collector = ObjectsCollector::new("v1", &schema);
        collector.add(&object("good", json!({"to": "abc"})));
        collector.add(&object("missing", json!({"mode": "x"})));
        for i in 0..30 {
            collector.add(&object(&format!("long{i}"), json!({"to": "abcdefgh"})));
        }
        let evidence = collector.finish();
        assert_eq!(evidence.checked, 32);
        let mut findings = vec![
            finding(Check::RequiredFieldAdded, ".spec.to"),
            finding(Check::MaxLengthTightened, ".spec.to"),
            finding(Check::FieldRemoved, ".spec.gone"),
        ];
        let named = apply(&mut findings, &evidence);
        assert_eq!(findings[0].severity, Severity::Error);
        assert!(
            findings[0]
                .message
                .contains("1 of 32 stored objects violates it")
        );
        assert_eq!(findings[1].severity, Severity::Error);
        assert!(
            findings[1]
                .message
                .contains("30 of 32 stored objects violate it (20 named)")
        );
        assert_eq!(findings[2].severity, Severity::Warning);
        assert_eq!(named.len(), 1 + NAMED_PER_NODE);
        assert_eq!(named[0].object, "ns/missing");
        assert_eq!(named[0].check, Check::RequiredFieldAdded);
        assert_eq!(named[0].path, ".spec.to");
    }

    #[test]
    fn a_removed_field_that_objects_set_is_pruned_data() {
        let desired = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {"kept": {"type": "string"}}}}});
        let mut collector = ObjectsCollector::new("v1", &desired);
        collector.add(&object("a", json!({"kept": "x", "old": {"deep": 1}})));
        let evidence = collector.finish();
        let mut findings = vec![finding(Check::FieldRemoved, ".spec.old")];
        let named = apply(&mut findings, &evidence);
        assert_eq!(findings[0].severity, Severity::Error);
        assert_eq!(named[0].path, ".spec.old");
    }

    #[test]
    fn objects_overrule_ratcheting_both_ways() {
        let schema = schema();
        let mut collector = ObjectsCollector::new("v1", &schema);
        collector.add(&object("long", json!({"to": "abcdefgh"})));
        let evidence = collector.finish();
        let mut findings = vec![
            finding(Check::MaxLengthTightened, ".spec.to"),
            finding(Check::PatternChanged, ".spec.mode"),
        ];
        crate::ratchet::apply(&mut findings, crate::Ratcheting::On { always: true });
        assert!(findings.iter().all(|f| f.severity == Severity::Warning));
        let named = apply(&mut findings, &evidence);
        assert_eq!(
            findings[0].severity,
            Severity::Error,
            "a stored object is too long"
        );
        assert_eq!(findings[0].adjustments.len(), 2);
        assert_eq!(findings[0].adjustments[1].by, AdjustedBy::Objects);
        assert_eq!(named[0].object, "ns/long");
        assert_eq!(findings[1].severity, Severity::Warning);
        assert!(
            findings[1]
                .message
                .contains("1 stored object checked at v1"),
            "{}",
            findings[1].message
        );
    }

    #[test]
    fn other_versions_and_composition_paths_are_left_alone() {
        let schema = schema();
        let evidence = ObjectsCollector::new("v1", &schema).finish();
        let mut findings = vec![
            Finding::new(
                Severity::Error,
                Check::PatternChanged,
                "v1beta1",
                ".spec.to",
                "x",
            ),
            finding(Check::PatternChanged, ".spec.to(anyOf[0])"),
        ];
        apply(&mut findings, &evidence);
        assert!(findings.iter().all(|f| f.severity == Severity::Error));
    }
}
