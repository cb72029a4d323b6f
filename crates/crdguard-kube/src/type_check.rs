//! The server's type checking of a ValidatingAdmissionPolicy (SPEC §9 v2). kube-apiserver
//! type-checks a policy's CEL against the schemas of the resources it matches a moment after
//! the policy is written, and reports the result in `status.typeChecking`. A policy with
//! `failurePolicy: Fail` whose expressions do not type-check would deny every write it matches,
//! so the guard's binding is written only once this status says the policy is sound.

use std::time::Duration;

use serde_json::Value;

use crate::{Cluster, ClusterError};

const POLICIES_PATH: &str = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies";

/// How often the policy's status is read while waiting.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// What the server's type checking said about one policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeCheck {
    /// Checked for the policy's current generation, with the server's warnings (none: sound).
    Checked { warnings: Vec<TypeWarning> },
    /// No result for the current generation within the time allowed.
    Pending,
}

/// One `status.typeChecking.expressionWarnings` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeWarning {
    /// Which expression, e.g. `spec.validations[0].expression`.
    pub field: String,
    pub warning: String,
}

impl Cluster {
    /// Reads the policy `name` until the server reports type checking for its current
    /// generation, or `timeout` passes, or a stop is requested (then [`TypeCheck::Pending`]).
    pub async fn wait_type_checked(
        &self,
        name: &str,
        timeout: Duration,
    ) -> Result<TypeCheck, ClusterError> {
        let policies = kube::core::Request::new(POLICIES_PATH);
        let operation = format!("read ValidatingAdmissionPolicy {name}");
        let deadline = tokio::time::Instant::now() + timeout;
        let stop = self.stop.clone();
        loop {
            let read = policies.get(name, &kube::core::params::GetParams::default());
            let policy = self.send(&operation, read).await?;
            if let Some(checked) = type_check_of(&policy) {
                return Ok(checked);
            }
            if tokio::time::Instant::now() + POLL_INTERVAL > deadline {
                return Ok(TypeCheck::Pending);
            }
            if stop.pause(POLL_INTERVAL).await.is_err() {
                return Ok(TypeCheck::Pending);
            }
        }
    }
}

/// The type checking a policy object reports for its current generation, if any.
fn type_check_of(policy: &Value) -> Option<TypeCheck> {
    let generation = policy
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)?;
    let status = policy.get("status")?;
    let observed = status.get("observedGeneration").and_then(Value::as_i64)?;
    let checking = status.get("typeChecking")?;
    if observed < generation || !checking.is_object() {
        return None;
    }
    let warnings = checking
        .get("expressionWarnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|w| TypeWarning {
            field: text(w, "fieldRef"),
            warning: text(w, "warning"),
        })
        .collect();
    Some(TypeCheck::Checked { warnings })
}

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_status_for_an_older_generation_or_without_type_checking_is_not_a_result() {
        let no_status = json!({"metadata": {"generation": 2}});
        assert_eq!(type_check_of(&no_status), None);
        let older = json!({"metadata": {"generation": 2},
            "status": {"observedGeneration": 1, "typeChecking": {}}});
        assert_eq!(type_check_of(&older), None);
        let not_yet = json!({"metadata": {"generation": 2}, "status": {"observedGeneration": 2}});
        assert_eq!(type_check_of(&not_yet), None);
    }

    #[test]
    fn warnings_of_the_current_generation_are_read() {
        let sound = json!({"metadata": {"generation": 1},
            "status": {"observedGeneration": 1, "typeChecking": {}}});
        assert_eq!(
            type_check_of(&sound),
            Some(TypeCheck::Checked { warnings: vec![] })
        );
        let broken = json!({"metadata": {"generation": 3},
            "status": {"observedGeneration": 3, "typeChecking": {"expressionWarnings": [
                {"fieldRef": "spec.validations[0].expression",
                 "warning": "apiextensions.k8s.io/v1, Kind=CustomResourceDefinition: ERROR: no such key: nosuchfield"}]}}});
        assert_eq!(
            type_check_of(&broken),
            Some(TypeCheck::Checked {
                warnings: vec![TypeWarning {
                    field: "spec.validations[0].expression".into(),
                    warning: "apiextensions.k8s.io/v1, Kind=CustomResourceDefinition: ERROR: no such key: nosuchfield".into(),
                }]
            })
        );
    }
}
