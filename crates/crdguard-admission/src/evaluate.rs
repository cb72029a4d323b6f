//! Evaluating one policy's CEL against one request, in the API server's order: match conditions,
//! then validations; `variables` computed lazily, only when an expression uses them.

use std::cell::RefCell;
use std::collections::BTreeSet;

use kube_cel::cel::{Context, Value};

use crate::compile::{CompiledExpr, References};
use crate::policy::{PolicyBody, Validation};
use crate::values::{describe, string_map};

/// What one policy says about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Every validation holds.
    Allowed,
    /// A match condition is false: the policy does not apply.
    Skipped,
    /// A validation is false; the message the API server would return.
    Denied(String),
    /// Something could not be evaluated and nothing was definitely false.
    Unknown(String),
}

/// Evaluates `policy` in `scope` (which holds `object`, `oldObject`, `request`, `params`,
/// `namespaceObject`).
pub(crate) fn evaluate(policy: &PolicyBody, scope: &Context<'_>) -> Outcome {
    let run = Run {
        policy,
        scope,
        variables: RefCell::new(vec![None; policy.variables.len()]),
    };
    // Any false condition skips the policy, whatever errors others have (as the API server).
    let mut condition_error = None;
    for condition in &policy.match_conditions {
        match run.bool(&condition.expr) {
            Ok(false) => return Outcome::Skipped,
            Ok(true) => {}
            Err(e) => {
                condition_error.get_or_insert(format!("matchCondition {}: {e}", condition.name));
            }
        }
    }
    if let Some(error) = condition_error {
        return Outcome::Unknown(with_failure_policy(policy, error));
    }
    // All validations run on the server; a definite false denies even if an earlier one failed
    // to evaluate (with failurePolicy Fail that error denies too, with Ignore it is dropped).
    let mut validation_error = None;
    for (index, validation) in policy.validations.iter().enumerate() {
        match run.bool(&validation.expr) {
            Ok(true) => {}
            Ok(false) => return Outcome::Denied(run.message(validation)),
            Err(e) => {
                validation_error.get_or_insert(format!("validations[{index}]: {e}"));
            }
        }
    }
    match validation_error {
        Some(error) => Outcome::Unknown(with_failure_policy(policy, error)),
        None => Outcome::Allowed,
    }
}

fn with_failure_policy(policy: &PolicyBody, error: String) -> String {
    if policy.failure_policy_ignore {
        format!("{error} (failurePolicy Ignore: the API server would let the write through)")
    } else {
        format!("{error} (failurePolicy Fail: the API server would deny the write)")
    }
}

/// One evaluation of one policy: the request scope and the variables computed so far.
struct Run<'p, 's> {
    policy: &'p PolicyBody,
    scope: &'s Context<'s>,
    /// `variables[i]`, once computed.
    variables: RefCell<Vec<Option<Result<Value, String>>>>,
}

impl Run<'_, '_> {
    fn bool(&self, expr: &CompiledExpr) -> Result<bool, String> {
        match self.value(expr)? {
            Value::Bool(b) => Ok(b),
            other => Err(format!("expected a bool, got {}", describe(&other))),
        }
    }

    /// The value of `expr`, with the variables it needs (and only those) computed first.
    fn value(&self, expr: &CompiledExpr) -> Result<Value, String> {
        let limit = self.policy.variables.len();
        let needed = self.needed(&expr.references, limit);
        for &index in &needed {
            self.compute(index);
        }
        self.evaluate_with(expr, &needed)
    }

    /// Computes `variables[index]`; its own needs are earlier variables (a variable can only
    /// use the ones declared before it), computed first since `needed` is ordered.
    fn compute(&self, index: usize) {
        if self.variables.borrow()[index].is_some() {
            return;
        }
        let expr = &self.policy.variables[index].expr;
        let needed = self.needed(&expr.references, index);
        for &earlier in &needed {
            self.compute(earlier);
        }
        let result = self.evaluate_with(expr, &needed);
        self.variables.borrow_mut()[index] = Some(result);
    }

    fn evaluate_with(
        &self,
        expr: &CompiledExpr,
        needed: &BTreeSet<usize>,
    ) -> Result<Value, String> {
        let computed = self.variables.borrow();
        let available = needed.iter().filter_map(|&i| match &computed[i] {
            Some(Ok(value)) => Some((self.policy.variables[i].name.clone(), value.clone())),
            _ => None,
        });
        let mut ctx = self.scope.new_inner_scope();
        ctx.add_variable_from_value("variables", string_map(available));
        expr.evaluate(&ctx).map_err(|error| {
            // A failed variable shows up as a missing key: name the real cause.
            match needed.iter().find_map(|&i| match &computed[i] {
                Some(Err(e)) => Some((i, e)),
                _ => None,
            }) {
                Some((i, cause)) => format!(
                    "{error} (variable {} failed: {cause})",
                    self.policy.variables[i].name
                ),
                None => error,
            }
        })
    }

    /// Indexes of the variables below `limit` that `refs` needs, directly or through other
    /// variables, in declaration order.
    fn needed(&self, refs: &References, limit: usize) -> BTreeSet<usize> {
        let variables = &self.policy.variables;
        let limit = limit.min(variables.len());
        let index_of =
            |name: &str, below: usize| variables[..below].iter().position(|v| v.name == name);
        let direct = |refs: &References, below: usize| -> Vec<usize> {
            if refs.all_variables {
                (0..below).collect()
            } else {
                refs.variables
                    .iter()
                    .filter_map(|name| index_of(name, below))
                    .collect()
            }
        };
        let mut needed = BTreeSet::new();
        let mut work = direct(refs, limit);
        while let Some(index) = work.pop() {
            if needed.insert(index) {
                work.extend(direct(&variables[index].expr.references, index));
            }
        }
        needed
    }

    /// The denial message: `messageExpression` when it yields a non-empty string, else
    /// `message`, else the API server's default.
    fn message(&self, validation: &Validation) -> String {
        if let Some(expr) = &validation.message_expression
            && let Ok(Value::String(s)) = self.value(expr)
            && !s.trim().is_empty()
        {
            return s.to_string();
        }
        validation
            .message
            .clone()
            .unwrap_or_else(|| format!("failed expression: {}", validation.expr.source.trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cel_env::CelEnv;
    use crate::policy::Policy;
    use crate::values::to_cel;
    use serde_json::json;

    fn outcome(spec: serde_json::Value, object: serde_json::Value) -> Outcome {
        let mut spec = spec;
        spec["matchConstraints"] = json!({"resourceRules": []});
        let policy = Policy::read(&json!({"metadata": {"name": "p"}, "spec": spec}));
        let env = CelEnv::new();
        let mut scope = env.scope();
        scope.add_variable_from_value("object", to_cel(&object).unwrap());
        scope.add_variable_from_value("oldObject", Value::Null);
        evaluate(policy.body.as_ref().unwrap(), &scope)
    }

    #[test]
    fn variables_are_lazy_and_chain() {
        let spec = json!({
            "variables": [
                {"name": "broken", "expression": "object.nope"},
                {"name": "a", "expression": "object.n + 1"},
                {"name": "b", "expression": "variables.a * 2"},
            ],
            "validations": [{"expression": "variables.b == 8"}],
        });
        // `broken` is never used, so its error does not matter.
        assert_eq!(outcome(spec.clone(), json!({"n": 3})), Outcome::Allowed);
        assert_eq!(
            outcome(spec, json!({"n": 1})),
            Outcome::Denied("failed expression: variables.b == 8".into())
        );
        let uses_broken = json!({
            "variables": [{"name": "broken", "expression": "object.nope"}],
            "validations": [{"expression": "variables.broken == 1"}],
        });
        let Outcome::Unknown(reason) = outcome(uses_broken, json!({})) else {
            panic!("expected unknown")
        };
        assert!(reason.contains("variable broken failed"), "{reason}");
    }

    #[test]
    fn match_conditions_skip_and_errors_are_unknown() {
        let spec = json!({
            "matchConditions": [
                {"name": "err", "expression": "object.nope == 1"},
                {"name": "no", "expression": "false"},
            ],
            "validations": [{"expression": "false"}],
        });
        assert_eq!(outcome(spec, json!({})), Outcome::Skipped);
        let spec = json!({
            "matchConditions": [{"name": "err", "expression": "object.nope == 1"}],
            "validations": [{"expression": "false"}],
        });
        assert!(matches!(outcome(spec, json!({})), Outcome::Unknown(_)));
    }

    #[test]
    fn a_definite_false_wins_over_an_error_and_messages_follow_the_server() {
        let spec = json!({
            "failurePolicy": "Ignore",
            "validations": [
                {"expression": "object.nope", "message": "never"},
                {"expression": "object.n < 2", "message": "static",
                 "messageExpression": "'n is ' + string(object.n)"},
            ],
        });
        assert_eq!(
            outcome(spec, json!({"n": 5})),
            Outcome::Denied("n is 5".into())
        );
        let spec = json!({"validations": [
            {"expression": "object.n < 2", "message": "static", "messageExpression": "object.x"}]});
        assert_eq!(
            outcome(spec, json!({"n": 5})),
            Outcome::Denied("static".into())
        );
        let spec =
            json!({"failurePolicy": "Ignore", "validations": [{"expression": "object.nope"}]});
        let Outcome::Unknown(reason) = outcome(spec, json!({})) else {
            panic!("expected unknown")
        };
        assert!(reason.contains("failurePolicy Ignore"), "{reason}");
        let spec = json!({"validations": [{"expression": "'not a bool'"}]});
        assert!(matches!(outcome(spec, json!({})), Outcome::Unknown(_)));
    }
}
