//! What the schema findings of one item finally weigh (SPEC §5 v2), in order: the comparison's
//! severity, the server's validation ratcheting, the stored objects, then the policy's
//! `schemaChecks` (enforcement, acknowledgements). Each step records what it changed on the
//! finding, so `explain` and `-o json` show every severity a finding had and why.

use crdguard_schema::evidence::{self, decidable_by_count, decidable_by_objects};
use crdguard_schema::{Finding, Ratcheting, Severity, ratchet};

use super::report::ItemObjects;
use crate::objects::{CrdObjects, SnapshotObjects};
use crate::policy::Policy;
use crate::state::{ClusterSource, ObservedState};

/// Whether the observed server ratchets validation.
pub fn ratcheting(observed: &ObservedState) -> Ratcheting {
    Ratcheting::for_server(observed.server_version.map(|v| (v.major, v.minor)))
}

/// Judges the findings of `crd`; returns the object counts and violations when objects were
/// read for it.
pub(crate) fn judge(
    observed: &ObservedState,
    policy: &Policy,
    crd: &str,
    findings: &mut [Finding],
) -> Option<ItemObjects> {
    ratchet::apply(findings, ratcheting(observed));
    let objects = match observed.objects.get(crd) {
        Some(CrdObjects::Read(evidence)) => {
            let mut violations = Vec::new();
            for version in evidence {
                violations.extend(evidence::apply(findings, version));
            }
            Some(ItemObjects {
                checked: evidence.iter().map(|e| e.checked).max().unwrap_or(0),
                violations,
            })
        }
        Some(CrdObjects::Unreadable(why)) => {
            say_what_would_decide(
                findings,
                &format!("the stored objects could not be read: {why}"),
            );
            None
        }
        None => {
            say_what_would_decide(findings, not_read(observed));
            None
        }
    };
    policy.spec.schema_checks.apply(crd, findings);
    objects
}

fn not_read(observed: &ObservedState) -> &'static str {
    match (observed.source, &observed.snapshot_objects) {
        (ClusterSource::Live, _) => "the stored objects were not read",
        (ClusterSource::Snapshot, SnapshotObjects::NotIncluded) => {
            "the snapshot holds no objects (make one with `crdguard snapshot --objects`, or plan live)"
        }
        (ClusterSource::Snapshot, SnapshotObjects::Included(_)) => {
            "the snapshot's objects were not read for this CRD"
        }
    }
}

/// An error the objects could decide, left undecided: the message says what would decide it.
fn say_what_would_decide(findings: &mut [Finding], why: &str) {
    for finding in findings.iter_mut().filter(|f| {
        f.severity == Severity::Error && (decidable_by_objects(f) || decidable_by_count(f))
    }) {
        finding.message = format!(
            "{}; whether stored objects violate it is unknown: {why}",
            finding.message
        );
    }
}
