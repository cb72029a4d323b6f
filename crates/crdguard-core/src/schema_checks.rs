//! The policy's `schemaChecks` (SPEC §4 v2): per-check enforcement, as crdify's per-validation
//! enforcement, and findings a reviewer acknowledged. Both apply last, after the server's
//! ratcheting and the stored objects have judged a finding (SPEC §5 v2), and every change is
//! recorded on the finding.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crdguard_schema::{AdjustedBy, CHECK_NAMES, Finding, Severity};

use crate::error::InputError;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SchemaChecks {
    /// Per check name: what a finding of that check is, whatever the comparison said.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub enforcement: BTreeMap<String, Enforcement>,
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
    pub check: String,
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

    /// Check names must be known (the error suggests the nearest); acknowledgements need a
    /// CRD name, a known check and a path.
    pub(crate) fn validate(&self, source: &str) -> Result<(), InputError> {
        let err = |field: String, message: String| InputError::new(source, message).field(field);
        for check in self.enforcement.keys() {
            unknown_check(check).map_or(Ok(()), |message| {
                Err(err(
                    format!("spec.schemaChecks.enforcement.{check}"),
                    message,
                ))
            })?;
        }
        for (i, entry) in self.acknowledge.iter().enumerate() {
            let field = |name: &str| format!("spec.schemaChecks.acknowledge[{i}].{name}");
            if !entry.crd.contains('.') {
                return Err(err(
                    field("crd"),
                    format!("{:?} is not a CRD name (<plural>.<group>)", entry.crd),
                ));
            }
            if let Some(message) = unknown_check(&entry.check) {
                return Err(err(field("check"), message));
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

fn unknown_check(check: &str) -> Option<String> {
    if CHECK_NAMES.contains(&check) {
        return None;
    }
    let nearest = crate::policy::nearest_match(check, CHECK_NAMES.iter().copied())
        .map(|c| format!("; did you mean {c:?}?"))
        .unwrap_or_else(|| "; `crdguard diff` prints the check names of its findings".to_string());
    Some(format!("unknown schema check {check:?}{nearest}"))
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

    fn finding(severity: Severity, check: &str, path: &str) -> Finding {
        Finding::new(severity, check, "v1", path, "changed")
    }

    #[test]
    fn enforcement_sets_the_severity_both_ways_and_records_it() {
        let policy = checks(
            "enforcement: { pattern-changed: warning, description-changed: ignore, field-added: error }",
        );
        let mut findings = vec![
            finding(Severity::Error, "pattern-changed", ".spec.a"),
            finding(Severity::Info, "description-changed", ".spec.b"),
            finding(Severity::Info, "field-added", ".spec.c"),
            finding(Severity::Error, "field-removed", ".spec.d"),
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
        let mut findings = vec![finding(Severity::Error, "required-field-added", ".spec")];
        policy.apply("referencegrants.gateway.networking.k8s.io", &mut findings);
        assert_eq!(findings[0].severity, Severity::Warning);
        assert_eq!(findings[0].adjustments[0].by, AdjustedBy::Acknowledged);
        let all = [("referencegrants.gateway.networking.k8s.io", &findings[0])];
        let stale = policy.stale(all.iter().map(|(c, f)| (*c, *f)));
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].crd, "other.example.com");
        // The same finding on another CRD is not acknowledged.
        let mut elsewhere = vec![finding(Severity::Error, "required-field-added", ".spec")];
        policy.apply("httproutes.gateway.networking.k8s.io", &mut elsewhere);
        assert_eq!(elsewhere[0].severity, Severity::Error);
    }

    #[test]
    fn unknown_checks_and_bad_entries_are_named_with_advice() {
        let typo = checks("enforcement: { pattern-change: warning }");
        let message = typo.validate("p.yaml").expect_err("typo").to_string();
        assert!(
            message.contains("spec.schemaChecks.enforcement.pattern-change"),
            "{message}"
        );
        assert!(
            message.contains("did you mean \"pattern-changed\""),
            "{message}"
        );
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
