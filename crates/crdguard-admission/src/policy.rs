//! Reading ValidatingAdmissionPolicy and ValidatingAdmissionPolicyBinding objects, and compiling
//! a policy's expressions once (not once per CRD).

use serde::Deserialize;
use serde_json::Value;

use crate::compile::CompiledExpr;
use crate::matching::MatchResources;

pub(crate) const POLICY_KIND: &str = "ValidatingAdmissionPolicy";
pub(crate) const BINDING_KIND: &str = "ValidatingAdmissionPolicyBinding";
pub(crate) const API_GROUP_PREFIX: &str = "admissionregistration.k8s.io/";

/// A policy ready to evaluate, or why it cannot be read.
#[derive(Debug)]
pub(crate) struct Policy {
    pub(crate) name: String,
    pub(crate) body: Result<PolicyBody, String>,
}

#[derive(Debug)]
pub(crate) struct PolicyBody {
    pub(crate) match_constraints: MatchResources,
    /// Policies with `paramKind` read parameter objects crdguard does not have.
    pub(crate) param_kind: bool,
    pub(crate) failure_policy_ignore: bool,
    pub(crate) match_conditions: Vec<Named>,
    pub(crate) variables: Vec<Named>,
    pub(crate) validations: Vec<Validation>,
}

impl PolicyBody {
    /// Every expression of the policy.
    pub(crate) fn expressions(&self) -> impl Iterator<Item = &CompiledExpr> {
        self.match_conditions
            .iter()
            .chain(&self.variables)
            .map(|n| &n.expr)
            .chain(
                self.validations
                    .iter()
                    .flat_map(|v| std::iter::once(&v.expr).chain(&v.message_expression)),
            )
    }
}

#[derive(Debug)]
pub(crate) struct Named {
    pub(crate) name: String,
    pub(crate) expr: CompiledExpr,
}

#[derive(Debug)]
pub(crate) struct Validation {
    pub(crate) expr: CompiledExpr,
    pub(crate) message: Option<String>,
    pub(crate) message_expression: Option<CompiledExpr>,
}

/// A binding of a policy to requests.
#[derive(Debug)]
pub(crate) struct Binding {
    pub(crate) name: String,
    pub(crate) policy_name: String,
    pub(crate) body: Result<BindingBody, String>,
}

#[derive(Debug)]
pub(crate) struct BindingBody {
    pub(crate) match_resources: Option<MatchResources>,
    /// Only `Deny` blocks a write; `Warn` and `Audit` let it through.
    pub(crate) deny: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PolicySpecDoc {
    #[serde(default)]
    param_kind: Option<Value>,
    #[serde(default)]
    match_constraints: Option<MatchResources>,
    #[serde(default)]
    failure_policy: Option<String>,
    #[serde(default)]
    match_conditions: Option<Vec<NamedDoc>>,
    #[serde(default)]
    variables: Option<Vec<NamedDoc>>,
    #[serde(default)]
    validations: Option<Vec<ValidationDoc>>,
}

#[derive(Deserialize)]
struct NamedDoc {
    #[serde(default)]
    name: String,
    expression: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ValidationDoc {
    expression: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    message_expression: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BindingSpecDoc {
    #[serde(default)]
    match_resources: Option<MatchResources>,
    #[serde(default)]
    validation_actions: Option<Vec<String>>,
}

/// The kind of an admission object we understand, if it is one.
pub(crate) fn admission_kind(object: &Value) -> Option<&str> {
    let api_version = object.get("apiVersion").and_then(Value::as_str)?;
    let kind = object.get("kind").and_then(Value::as_str)?;
    (api_version.starts_with(API_GROUP_PREFIX) && (kind == POLICY_KIND || kind == BINDING_KIND))
        .then_some(kind)
}

fn name_of(object: &Value) -> String {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

impl Policy {
    pub(crate) fn read(object: &Value) -> Policy {
        let name = name_of(object);
        let spec = object.get("spec").cloned().unwrap_or(Value::Null);
        let body = serde_json::from_value::<PolicySpecDoc>(spec)
            .map_err(|e| format!("cannot read spec of ValidatingAdmissionPolicy {name}: {e}"))
            .and_then(|doc| {
                let match_constraints = doc
                    .match_constraints
                    .ok_or_else(|| "the policy has no spec.matchConstraints".to_string())?;
                Ok(PolicyBody {
                    match_constraints,
                    param_kind: doc.param_kind.is_some_and(|p| !p.is_null()),
                    failure_policy_ignore: doc.failure_policy.as_deref() == Some("Ignore"),
                    match_conditions: compile_named(doc.match_conditions),
                    variables: compile_named(doc.variables),
                    validations: doc
                        .validations
                        .unwrap_or_default()
                        .into_iter()
                        .map(|v| Validation {
                            expr: CompiledExpr::compile(&v.expression),
                            message: v.message.filter(|m| !m.trim().is_empty()),
                            message_expression: v
                                .message_expression
                                .filter(|m| !m.trim().is_empty())
                                .map(|m| CompiledExpr::compile(&m)),
                        })
                        .collect(),
                })
            });
        Policy { name, body }
    }
}

fn compile_named(docs: Option<Vec<NamedDoc>>) -> Vec<Named> {
    docs.unwrap_or_default()
        .into_iter()
        .map(|d| Named {
            expr: CompiledExpr::compile(&d.expression),
            name: d.name,
        })
        .collect()
}

impl Binding {
    pub(crate) fn read(object: &Value) -> Binding {
        let name = name_of(object);
        let policy_name = object
            .pointer("/spec/policyName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let spec = object.get("spec").cloned().unwrap_or(Value::Null);
        let body = serde_json::from_value::<BindingSpecDoc>(spec)
            .map(|doc| BindingBody {
                match_resources: doc.match_resources,
                deny: doc
                    .validation_actions
                    .unwrap_or_default()
                    .iter()
                    .any(|a| a == "Deny"),
            })
            .map_err(|e| {
                format!("cannot read spec of ValidatingAdmissionPolicyBinding {name}: {e}")
            });
        Binding {
            name,
            policy_name,
            body,
        }
    }
}
