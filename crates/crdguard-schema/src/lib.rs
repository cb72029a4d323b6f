//! Schema compatibility analysis of CustomResourceDefinitions (SPEC §5).
//!
//! Pure: takes two CRD objects as JSON values (`apiextensions.k8s.io/v1`
//! `CustomResourceDefinition`, as read from YAML/JSON or from the API) and returns findings.
//! No I/O, no async, so the planner, `crdguard diff` and benchmarks share one implementation.
//! Any JSON is accepted without panicking: parts that are not shaped like a CRD or a schema
//! are skipped or compared as opaque values.
//!
//! # Findings
//!
//! [`diff_crds`] compares an installed CRD with a desired one:
//! - CRD-level checks (path `.`): see the table below.
//! - For every version the desired CRD serves and the installed one defines, the two
//!   `schema.openAPIV3Schema` are walked in lockstep (`walk.rs`). Paths name the data:
//!   `.spec.rules[*].backendRefs[*].port`; map values are `.*` (`.spec.labels.*`),
//!   composition branches `(anyOf[1])`, see `path.rs`.
//!
//! Findings are sorted by version, then path, then check (stable: ties keep walk order).
//! A finding's check is a [`Check`], serialized as its name in the table below.
//!
//! | check | severity |
//! |---|---|
//! | `scope-changed`, `kind-changed` | error |
//! | `stored-version-removed` | error |
//! | `served-version-removed` | error if stored, else warning (not repeated for a version already reported as `stored-version-removed`) |
//! | `storage-version-changed` | error to a version the installed CRD lacks, warning to one it defines unserved, info to one it serves |
//! | `version-added`, `version-deprecated`, `version-removed` (neither served nor stored) | info |
//! | `conversion-changed`, `subresource-changed` | warning |
//! | `subresource-removed` | error |
//! | `subresource-added` | warning (`status`), info (`scale`) |
//! | `served-versions-incompatible` | warning (strategy `None`, a newer served version newly stricter than an older one) |
//! | `field-removed` | error (warning when the parent now preserves unknown fields) |
//! | `field-added` | info (warning under a parent that used to accept unknown fields) |
//! | `type-changed`, `int-or-string-changed`, `embedded-resource-changed` | error |
//! | `required-field-added` | error (warning when the field has a default) |
//! | `required-field-removed` | info |
//! | `enum-value-removed`, `enum-added` | error |
//! | `enum-value-added`, `enum-removed` | info |
//! | `default-added`, `default-changed`, `default-removed` | error |
//! | `maximum-tightened`, `minimum-tightened` (incl. `exclusive*`), `max-length-tightened`, `min-length-tightened`, `max-items-tightened`, `min-items-tightened`, `max-properties-tightened`, `min-properties-tightened` | error (a limit where there was none is tightening) |
//! | the same with `-loosened` | info |
//! | `multiple-of-changed` | error (info when the new value divides the old, or removed) |
//! | `unique-items-added` / `unique-items-removed` | error / info |
//! | `pattern-changed` | error (info when removed) |
//! | `format-changed` | warning (info when removed) |
//! | `nullable-removed` / `nullable-added` | error / info |
//! | `preserve-unknown-fields-removed` / `-added` | error / info |
//! | `list-type-changed`, `list-map-keys-changed`, `map-type-changed` | error |
//! | `additional-properties-changed` | error when narrowed (schema→false, true→schema/false), info when loosened |
//! | `items-changed` | error when list entries get a schema, info when they lose it |
//! | `all-of-changed`, `any-of-changed`, `one-of-changed`, `not-changed` | error when constraining, info when loosening |
//! | `validation-rule-added` | warning on an existing field, info on a new one |
//! | `validation-rule-changed` | warning (info when only the message changed) |
//! | `validation-rule-removed` | info |
//! | `description-changed` | info (also `title`, `example`, `externalDocs`) |
//! | `unhandled-change` | warning: a keyword crdguard does not analyse, or a non-object schema, changed |
//!
//! [`diff_sets`] adds `crd-removed` (error) and `crd-added` (info).
//!
//! These are the severities of the comparison alone. What the server does with them (validation
//! ratcheting, [`ratchet`]) and what the stored objects and the policy say are applied after,
//! and every change is recorded on the finding ([`Finding::adjustments`]).

mod check;
mod checks;
mod crd;
pub mod evidence;
mod finding;
mod json;
mod keyword;
mod pairs;
mod path;
pub mod ratchet;
mod served;
mod set;
pub mod validate;
mod walk;

pub use check::{Check, UnknownCheck};
pub use evidence::{ObjectEvidence, ObjectViolation, ObjectsCollector};
pub use finding::{AdjustedBy, Adjustment, Finding, Severity, Summary};
pub use ratchet::Ratcheting;
pub use set::{CrdDiff, OldSet, SetDiff, diff_sets};

use serde_json::Value;

/// The signature every schema analysis has, so the planner can take one as a plain function.
pub type SchemaAnalysis = fn(installed: &Value, desired: &Value) -> Vec<Finding>;

/// The structural schema-compatibility analysis (SPEC §5) of an installed CRD against the
/// desired one. See the crate documentation for the checks.
pub fn diff_crds(installed: &Value, desired: &Value) -> Vec<Finding> {
    let mut findings = Vec::new();
    crd::check(installed, desired, &mut findings);

    let old = crd::versions(installed);
    let empty = Value::Object(serde_json::Map::new());
    for version in crd::versions(desired).iter().filter(|v| v.served) {
        let Some(before) = crd::find(&old, version.name) else {
            continue;
        };
        // A version without a schema accepts anything: compare against an empty schema.
        let (a, b) = (
            before.schema().unwrap_or(&empty),
            version.schema().unwrap_or(&empty),
        );
        let mut walker = walk::Walker::new(version.name);
        walker.compare(a, b);
        findings.extend(walker.finish());
    }

    served::check(installed, desired, &mut findings);
    sort(&mut findings);
    findings
}

/// Sorts findings by version, then path, then check (`Check` orders as its names). Stable, so
/// ties keep the walk's order, which follows the documents' field order and is therefore
/// deterministic too.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        a.version
            .cmp(&b.version)
            .then_with(|| a.path.cmp(&b.path))
            .then_with(|| a.check.cmp(&b.check))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_crds_is_a_schema_analysis() {
        // The planner takes any `SchemaAnalysis`; `diff_crds` is the one it uses.
        let analysis: SchemaAnalysis = diff_crds;
        let crd = serde_json::json!({"spec": {"versions": [{"name": "v1", "served": true}]}});
        assert!(analysis(&crd, &crd).is_empty());
    }
}
