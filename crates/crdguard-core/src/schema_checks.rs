//! The policy's `schemaChecks` (SPEC §4 v2): per-check enforcement, as crdify's per-validation
//! enforcement, and findings a reviewer acknowledged. Both apply last, after the server's
//! ratcheting and the stored objects have judged a finding (SPEC §5 v2), and every change is
//! recorded on the finding.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crdguard_schema::{AdjustedBy, Check, Finding, Severity};

use crate::error::InputError;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SchemaChecks {
    /// Per check: what a finding of that check is, whatever the comparison said. Check names
    /// are parsed as the policy is read, so a typo is refused there with the closest checks
    /// named, instead of an entry that never matches.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub enforcement: BTreeMap<Check, Enforcement>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acknowledge: Vec<Acknowledgement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Enforcement {
    Error,
    Warning,
    /// Not a concern for this product: the finding is kept as `info`, counted, never shown
    /// as a problem.
    Ignore,
}

impl Enforcement {
    fn severity(self) -> Severity {
        match self {
            Enforcement::Error => Severity::Error,
            Enforcement::Warning => Severity::Warning,
            Enforcement::Ignore => Severity::Info,
        }
    }
}

/// A finding a reviewer accepted: it no longer blocks (it stays listed, as a warning).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Acknowledgement {
    pub crd: String,
    pub check: Check,
    pub path: String,
}

impl Acknowledgement {
    pub fn matches(&self, crd: &str, finding: &Finding) -> bool {
        self.crd == crd && self.check == finding.check && self.path == finding.path
    }
}

impl SchemaChecks {
    pub fn is_empty(&self) -> bool {
        self.enforcement.is_empty() && self.acknowledge.is_empty()
    }

    /// Applies enforcement, then acknowledgements, to the findings of one CRD.
    pub fn apply(&self, crd: &str, findings: &mut [Finding]) {
        if self.is_empty() {
            return;
        }
        for finding in findings.iter_mut() {
            if let Some(enforcement) = self.enforcement.get(&finding.check) {
                let reason = format!(
                    "policy schemaChecks.enforcement: {}: {}",
                    finding.check,
                    serde_name(*enforcement)
                );
                finding.adjust(enforcement.severity(), AdjustedBy::Enforcement, reason);
            }
            if finding.severity == Severity::Error
                && self.acknowledge.iter().any(|a| a.matches(crd, finding))
            {
                finding.adjust(
                    Severity::Warning,
                    AdjustedBy::Acknowledged,
                    "acknowledged in the policy (schemaChecks.acknowledge)",
                );
            }
        }
    }

    /// Acknowledgements that match no finding of `findings` (pairs of CRD name and finding):
    /// stale entries that should be removed, reported as a warning.
    pub fn stale<'a, 'f>(
        &'a self,
        findings: impl Iterator<Item = (&'f str, &'f Finding)> + Clone,
    ) -> Vec<&'a Acknowledgement> {
        self.acknowledge
            .iter()
            .filter(|a| !findings.clone().any(|(crd, f)| a.matches(crd, f)))
            .collect()
    }

    /// Acknowledgements need a CRD name and a path (their check is known: unknown check names
    /// are refused while the policy is read, see [`Check`]'s `Deserialize`).
    pub(crate) fn validate(&self, source: &str) -> Result<(), InputError> {
        let err = |field: String, message: String| InputError::new(source, message).field(field);
        for (i, entry) in self.acknowledge.iter().enumerate() {
            let field = |name: &str| format!("spec.schemaChecks.acknowledge[{i}].{name}");
            if !entry.crd.contains('.') {
                return Err(err(
                    field("crd"),
                    format!("{:?} is not a CRD name (<plural>.<group>)", entry.crd),
                ));
            }
            if !entry.path.starts_with('.') {
                return Err(err(
                    field("path"),
                    format!(
                        "{:?} is not a finding path; paths start with a dot, as `crdguard diff` prints them (e.g. .spec.rules[*].name)",
                        entry.path
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn serde_name(enforcement: Enforcement) -> &'static str {
    match enforcement {
        Enforcement::Error => "error",
        Enforcement::Warning => "warning",
        Enforcement::Ignore => "ignore",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks(yaml: &str) -> SchemaChecks {
        serde_yaml_ng::from_str(yaml).expect("valid schemaChecks")
    }

    fn finding(severity: Severity, check: Check, path: &str) -> Finding {
        Finding::new(severity, check, "v1", path, "changed")
    }

    #[test]
    fn enforcement_sets_the_severity_both_ways_and_records_it() {
        let policy = checks(
            "enforcement: { pattern-changed: warning, description-changed: ignore, field-added: error }",
        );
        let mut findings = vec![
            finding(Severity::Error, Check::PatternChanged, ".spec.a"),
            finding(Severity::Info, Check::DescriptionChanged, ".spec.b"),
            finding(Severity::Info, Check::FieldAdded, ".spec.c"),
            finding(Severity::Error, Check::FieldRemoved, ".spec.d"),
        ];
        policy.apply("x.example.com", &mut findings);
        let severities: Vec<Severity> = findings.iter().map(|f| f.severity).collect();
        assert_eq!(
            severities,
            [
                Severity::Warning,
                Severity::Info,
                Severity::Error,
                Severity::Error
            ]
        );
        assert_eq!(findings[0].adjustments[0].by, AdjustedBy::Enforcement);
        assert!(
            findings[1].adjustments.is_empty(),
            "info stays info: no change recorded"
        );
        assert_eq!(findings[2].original_severity(), Severity::Info);
    }

    #[test]
    fn an_acknowledged_error_stops_blocking_and_stale_entries_surface() {
        let policy = checks(
            "acknowledge:\n- { crd: referencegrants.gateway.networking.k8s.io, check: required-field-added, path: .spec }\n- { crd: other.example.com, check: field-removed, path: .spec.x }",
        );
        let mut findings = vec![finding(Severity::Error, Check::RequiredFieldAdded, ".spec")];
        policy.apply("referencegrants.gateway.networking.k8s.io", &mut findings);
        assert_eq!(findings[0].severity, Severity::Warning);
        assert_eq!(findings[0].adjustments[0].by, AdjustedBy::Acknowledged);
        let all = [("referencegrants.gateway.networking.k8s.io", &findings[0])];
        let stale = policy.stale(all.iter().map(|(c, f)| (*c, *f)));
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].crd, "other.example.com");
        // The same finding on another CRD is not acknowledged.
        let mut elsewhere = vec![finding(Severity::Error, Check::RequiredFieldAdded, ".spec")];
        policy.apply("httproutes.gateway.networking.k8s.io", &mut elsewhere);
        assert_eq!(elsewhere[0].severity, Severity::Error);
    }

    /// A policy with `schemaChecks` (indented under `spec:`), read as `crdguard --policy` does.
    fn policy(schema_checks: &str) -> Result<crate::Policy, InputError> {
        crate::Policy::from_yaml(
            "p.yaml",
            &format!(
                "apiVersion: crdguard.dev/v1alpha1\nkind: Policy\nmetadata: {{ name: p }}\nspec:\n  schemaChecks:\n{schema_checks}"
            ),
        )
    }

    #[test]
    fn unknown_checks_are_refused_as_the_policy_is_read_with_the_field_and_the_closest_checks() {
        let err = policy("    enforcement: { pattern-change: warning }\n").expect_err("typo");
        assert_eq!(
            err.field.as_deref(),
            Some("spec.schemaChecks.enforcement.pattern-change")
        );
        let message = err.to_string();
        assert!(message.starts_with("p.yaml, field "), "{message}");
        assert!(
            message.contains(
                "unknown schema check \"pattern-change\"; did you mean \"pattern-changed\""
            ),
            "{message}"
        );
        let err = policy(
            "    acknowledge: [ { crd: x.example.com, check: max-length-tighten, path: .spec.x } ]\n",
        )
        .expect_err("typo");
        assert_eq!(
            err.field.as_deref(),
            Some("spec.schemaChecks.acknowledge[0].check")
        );
        assert!(
            err.message
                .contains("did you mean \"max-length-tightened\""),
            "{err}"
        );
    }

    #[test]
    fn a_saved_policy_with_an_unknown_check_is_refused_too() {
        // Saved plans carry their policy as JSON and read it back without `Policy::from_yaml`'s
        // validation: a check name that is no check used to be kept there, matching nothing.
        let saved = serde_json::json!({
            "enforcement": { "field-remove": "warning" },
        });
        let err = serde_json::from_value::<SchemaChecks>(saved).expect_err("typo");
        assert!(
            err.to_string().contains("did you mean \"field-removed\""),
            "{err}"
        );
        let saved = serde_json::json!({
            "acknowledge": [{ "crd": "x.example.com", "check": "field-remove", "path": ".spec.x" }],
        });
        assert!(serde_json::from_value::<SchemaChecks>(saved).is_err());
    }

    #[test]
    fn schema_checks_written_out_read_back_the_same() {
        // The plan carries the policy (`-o json`) and `apply` reads it back.
        let policy = checks(
            "enforcement: { pattern-changed: warning, crd-added: error }\nacknowledge: [ { crd: x.example.com, check: field-removed, path: .spec.x } ]",
        );
        // Byte for byte, keys in name order: the plan's digest covers the policy.
        let json = serde_json::to_string(&policy).expect("serializes");
        assert_eq!(
            json,
            r#"{"enforcement":{"crd-added":"error","pattern-changed":"warning"},"acknowledge":[{"crd":"x.example.com","check":"field-removed","path":".spec.x"}]}"#
        );
        assert_eq!(
            serde_json::from_str::<SchemaChecks>(&json).expect("reads"),
            policy
        );
    }

    #[test]
    fn bad_entries_are_named_with_advice() {
        let no_dot =
            checks("acknowledge: [ { crd: x.example.com, check: field-removed, path: spec.x } ]");
        let message = no_dot.validate("p.yaml").expect_err("path").to_string();
        assert!(
            message.contains("spec.schemaChecks.acknowledge[0].path"),
            "{message}"
        );
        assert!(
            serde_yaml_ng::from_str::<SchemaChecks>("enforcement: { pattern-changed: fatal }")
                .is_err()
        );
    }
}
