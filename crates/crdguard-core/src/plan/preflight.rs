//! Preflight (SPEC §1, §3): checks run before anything is written. Any `fail` blocks the plan.

use super::report::{CheckStatus, PreflightCheck};
use crate::policy::Policy;
use crate::state::ObservedState;

/// Product-level checks; bundle-level checks come from the bundle assessment.
pub(crate) fn product_checks(
    policy: &Policy,
    observed: &ObservedState,
    admission_evaluated: bool,
) -> Vec<PreflightCheck> {
    let mut checks = Vec::new();
    let minimum = policy.kubernetes_minimum();
    let (status, message) = match (observed.server_version, minimum) {
        (None, Some(min)) => (
            CheckStatus::Warn,
            format!(
                "server version unknown (pass --server-version); the policy needs Kubernetes {min} or newer"
            ),
        ),
        (None, None) => (
            CheckStatus::Warn,
            "server version unknown (pass --server-version); version checks skipped".to_string(),
        ),
        (Some(server), Some(min)) if server < min => (
            CheckStatus::Fail,
            format!("Kubernetes {server} is older than the policy minimum {min}"),
        ),
        (Some(server), Some(min)) => (
            CheckStatus::Pass,
            format!("Kubernetes {server} meets the policy minimum {min}"),
        ),
        (Some(server), None) => (
            CheckStatus::Pass,
            format!("Kubernetes {server} (no minimum in the policy)"),
        ),
    };
    checks.push(PreflightCheck {
        check: "kubernetes-version".to_string(),
        status,
        message,
    });
    let policies: Vec<&str> = observed
        .admission_policies()
        .map(|p| p.name.as_str())
        .collect();
    if !policies.is_empty() {
        checks.push(if admission_evaluated {
            PreflightCheck {
                check: "admission-policies".to_string(),
                status: CheckStatus::Pass,
                message: format!(
                    "{} ValidatingAdmissionPolicy object(s) evaluated against every planned write ({})",
                    policies.len(),
                    policies.join(", ")
                ),
            }
        } else {
            PreflightCheck {
                check: "admission-policies".to_string(),
                status: CheckStatus::Warn,
                message: format!(
                    "{} ValidatingAdmissionPolicy object(s) in the cluster ({}) were not evaluated, \
                     so a write may still be denied",
                    policies.len(),
                    policies.join(", ")
                ),
            }
        });
    }
    checks
}
