//! Server-aware severity: CRD validation ratcheting (KEP-4008, SPEC §5 v2).
//!
//! On a server that ratchets, an update of a custom resource is accepted even if it fails
//! validation, as long as every part that fails was not changed by the update. So a tightened
//! validation no longer breaks the objects already stored: they keep working, only new or
//! changed values must comply. That turns the tightenings ratcheting covers from `error` into
//! `warning`. Everything else keeps its severity.
//!
//! # What ratcheting covers, and what it does not
//! Source: Kubernetes documentation, "Extend the Kubernetes API with CustomResourceDefinitions",
//! section *Validation ratcheting* (kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/
//! custom-resource-definitions/#validation-ratcheting), and KEP-4008 (alpha 1.28, beta and on
//! by default 1.30, GA 1.33). The documented exceptions, which keep failing as before:
//! - `allOf`, `oneOf`, `anyOf`, `not`, and any validation in a descendant of one of them;
//! - `x-kubernetes-validations` rules that use `oldSelf` (transition rules are never
//!   ratcheted; rules without `oldSelf` are, from 1.29);
//! - `x-kubernetes-list-type`: changing a list's type (e.g. adding `set` to a list that holds
//!   duplicates) always fails;
//! - `x-kubernetes-list-map-keys`: changing a list's map keys;
//! - `required`: changes to the list of required fields;
//! - `properties`: adding, removing or renaming properties (changes to the validations
//!   *inside* a property that keeps its name may be ratcheted);
//! - `additionalProperties`: removing a previously specified `additionalProperties`;
//! - `metadata`: Kubernetes' built-in validation of an object's metadata (a CRD's own extra
//!   rules on metadata are ratcheted).
//!
//! Ratcheting is about *validation* only. Changes that alter what the server stores or returns
//! are not validation and are never softened here: pruning (`field-removed`,
//! `preserve-unknown-fields-removed`, `nullable-removed`: a `null` in a field that is no
//! longer nullable is pruned), defaulting (`default-*`), and the shape clients decode
//! (`type-changed`, `int-or-string-changed`, `embedded-resource-changed`, `map-type-changed`,
//! `items-changed`). CRD-level findings (versions, scope, storage) are about the API, not
//! about values, and keep their severity too.
//!
//! [`RATCHETED_CHECKS`] is the list of checks that become warnings; the rest of this module
//! only decides *whether* the server ratchets.

use crate::check::Check;
use crate::finding::{AdjustedBy, Finding, Severity};

/// Tightenings of validations that ratcheting covers: on a ratcheting server an `error`
/// finding of one of these checks becomes a `warning`, unless it sits under a composition
/// branch (`(allOf[i])`, `(anyOf[i])`, `(oneOf[i])`), which ratcheting does not cover.
pub const RATCHETED_CHECKS: &[Check] = &[
    Check::MaximumTightened,
    Check::MinimumTightened,
    Check::MaxLengthTightened,
    Check::MinLengthTightened,
    Check::MaxItemsTightened,
    Check::MinItemsTightened,
    Check::MaxPropertiesTightened,
    Check::MinPropertiesTightened,
    Check::MultipleOfChanged,
    Check::PatternChanged,
    Check::FormatChanged,
    Check::EnumValueRemoved,
    Check::EnumAdded,
    Check::UniqueItemsAdded,
];

/// Whether the server the plan writes to ratchets validation of custom resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ratcheting {
    /// The server version is not known (offline without `--server-version`): findings keep
    /// the severity of the schema comparison.
    Unknown,
    /// The server is older than 1.30, where ratcheting is off unless a feature gate enables it.
    Off,
    /// The server ratchets: 1.30 and later (on by default; GA and always on from 1.33).
    On { always: bool },
}

impl Ratcheting {
    /// From the server's `major.minor`, or `None` when unknown.
    pub fn for_server(major_minor: Option<(u64, u64)>) -> Self {
        match major_minor {
            None => Ratcheting::Unknown,
            Some(version) if version >= (1, 33) => Ratcheting::On { always: true },
            Some(version) if version >= (1, 30) => Ratcheting::On { always: false },
            Some(_) => Ratcheting::Off,
        }
    }
}

/// Lowers the error findings that the server's ratcheting covers to warnings, recording why.
pub fn apply(findings: &mut [Finding], ratcheting: Ratcheting) {
    let Ratcheting::On { always } = ratcheting else {
        return;
    };
    let reason = if always {
        "the server ratchets validation (Kubernetes 1.33+, KEP-4008): existing objects keep working; new or changed values must comply"
    } else {
        "the server ratchets validation (on by default in Kubernetes 1.30-1.32 unless the CRDValidationRatcheting feature gate is off, KEP-4008): existing objects keep working; new or changed values must comply"
    };
    for finding in findings
        .iter_mut()
        .filter(|f| f.severity == Severity::Error && is_ratcheted(f))
    {
        finding.adjust(Severity::Warning, AdjustedBy::Ratcheting, reason);
    }
}

/// Whether ratcheting covers this finding (see the module documentation).
pub fn is_ratcheted(finding: &Finding) -> bool {
    RATCHETED_CHECKS.contains(&finding.check) && !under_composition(&finding.path)
}

/// Paths through `allOf`/`anyOf`/`oneOf` carry a `(keyword[i])` step (`path.rs`).
fn under_composition(path: &str) -> bool {
    ["(allOf[", "(anyOf[", "(oneOf["]
        .iter()
        .any(|step| path.contains(step))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(check: Check, path: &str) -> Finding {
        Finding::new(Severity::Error, check, "v1", path, "tightened")
    }

    #[test]
    fn server_versions_map_to_the_feature_stages() {
        assert_eq!(Ratcheting::for_server(None), Ratcheting::Unknown);
        assert_eq!(Ratcheting::for_server(Some((1, 29))), Ratcheting::Off);
        assert_eq!(
            Ratcheting::for_server(Some((1, 30))),
            Ratcheting::On { always: false }
        );
        assert_eq!(
            Ratcheting::for_server(Some((1, 33))),
            Ratcheting::On { always: true }
        );
        assert_eq!(
            Ratcheting::for_server(Some((2, 0))),
            Ratcheting::On { always: true }
        );
    }

    #[test]
    fn every_ratcheted_tightening_becomes_a_warning_with_its_reason() {
        let mut findings: Vec<Finding> = RATCHETED_CHECKS
            .iter()
            .map(|&check| error(check, ".spec.name"))
            .collect();
        apply(&mut findings, Ratcheting::On { always: true });
        for finding in &findings {
            assert_eq!(finding.severity, Severity::Warning, "{}", finding.check);
            assert_eq!(finding.original_severity(), Severity::Error);
            assert_eq!(finding.adjustments[0].by, AdjustedBy::Ratcheting);
        }
    }

    #[test]
    fn what_ratcheting_does_not_cover_stays_an_error() {
        let not_covered = [
            Check::RequiredFieldAdded,
            Check::ListTypeChanged,
            Check::ListMapKeysChanged,
            Check::AdditionalPropertiesChanged,
            Check::FieldRemoved,
            Check::TypeChanged,
            Check::DefaultAdded,
            Check::DefaultChanged,
            Check::NullableRemoved,
            Check::PreserveUnknownFieldsRemoved,
            Check::AllOfChanged,
            Check::OneOfChanged,
            Check::NotChanged,
            Check::StoredVersionRemoved,
        ];
        let mut findings: Vec<Finding> = not_covered.iter().map(|&c| error(c, ".spec")).collect();
        // A covered tightening below a composition branch is not covered either.
        findings.push(error(Check::PatternChanged, ".spec.value(anyOf[1])"));
        findings.push(error(Check::MaxLengthTightened, ".spec(oneOf[0]).name"));
        findings.push(error(Check::EnumValueRemoved, ".spec(allOf[0]).mode"));
        apply(&mut findings, Ratcheting::On { always: true });
        for finding in &findings {
            assert_eq!(
                finding.severity,
                Severity::Error,
                "{} at {}",
                finding.check,
                finding.path
            );
            assert!(finding.adjustments.is_empty());
        }
    }

    #[test]
    fn without_ratcheting_or_a_known_server_nothing_changes() {
        for ratcheting in [Ratcheting::Off, Ratcheting::Unknown] {
            let mut findings = vec![error(Check::PatternChanged, ".spec.name")];
            apply(&mut findings, ratcheting);
            assert_eq!(findings[0].severity, Severity::Error);
        }
    }

    #[test]
    fn status_findings_are_labelled_and_judged_like_others() {
        let mut findings = vec![
            error(Check::MinItemsTightened, ".status.conditions"),
            error(Check::RequiredFieldAdded, ".status"),
            error(Check::PatternChanged, ".statusText"),
        ];
        assert!(findings[0].affects_status && findings[1].affects_status);
        assert!(!findings[2].affects_status, ".statusText is not .status");
        apply(&mut findings, Ratcheting::On { always: true });
        assert_eq!(findings[0].severity, Severity::Warning);
        assert_eq!(findings[1].severity, Severity::Error);
    }
}
