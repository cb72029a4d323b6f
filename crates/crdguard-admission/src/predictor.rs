//! [`PolicyEvaluator`]: the cluster's ValidatingAdmissionPolicies and their bindings, compiled
//! once, answering "would this CRD write be admitted?" for every item of a plan.

use std::collections::BTreeMap;

use crdguard_core::ObservedState;
use crdguard_core::admission::{AdmissionPrediction, AdmissionPredictor};
use crdguard_core::model::Crd;
use kube_cel::cel::{Context, Value};
use serde_json::Value as Json;

use crate::cel_env::CelEnv;
use crate::evaluate::{Outcome, evaluate};
use crate::policy::{BINDING_KIND, Binding, POLICY_KIND, Policy, admission_kind};
use crate::request::{AdmissionRequest, Identity, applied_object, request_value};
use crate::shape::Shape;
use crate::values::{to_cel, to_cel_shaped};

/// The admission policies of a cluster, ready to evaluate requests.
///
/// A policy acts on a request when its `matchConstraints` match and at least one of its bindings
/// matches (`matchResources` narrows, it never widens) with the `Deny` action; `Warn` and `Audit`
/// bindings never block. Policies are evaluated in name order; a certain denial by any policy
/// wins over another policy that could not be evaluated.
pub struct PolicyEvaluator {
    env: CelEnv,
    policies: Vec<BoundPolicy>,
    identity: Identity,
    /// What the policies read of `object` and `oldObject`: only that is converted to CEL.
    object_shape: Shape,
    old_object_shape: Shape,
}

impl std::fmt::Debug for PolicyEvaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyEvaluator")
            .field("policies", &self.policy_names())
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

struct BoundPolicy {
    policy: Policy,
    bindings: Vec<Binding>,
}

impl PolicyEvaluator {
    /// The policies and bindings of an observed cluster (live or snapshot).
    pub fn from_observed(observed: &ObservedState) -> Self {
        let objects: Vec<&Json> = observed.admission.iter().map(|o| &o.object).collect();
        Self::build(objects)
    }

    /// Policies and bindings from plain objects; anything else is ignored. A later object of the
    /// same kind and name replaces an earlier one, as a second `kubectl apply` would.
    pub fn from_objects(objects: &[Json]) -> Self {
        Self::build(objects.iter().collect())
    }

    fn build(objects: Vec<&Json>) -> Self {
        let mut policies: BTreeMap<String, Policy> = BTreeMap::new();
        let mut bindings: BTreeMap<String, Binding> = BTreeMap::new();
        for object in objects {
            match admission_kind(object) {
                Some(POLICY_KIND) => {
                    let policy = Policy::read(object);
                    policies.insert(policy.name.clone(), policy);
                }
                Some(BINDING_KIND) => {
                    let binding = Binding::read(object);
                    bindings.insert(binding.name.clone(), binding);
                }
                _ => {}
            }
        }
        let mut bound: BTreeMap<String, BoundPolicy> = policies
            .into_iter()
            .map(|(name, policy)| {
                (
                    name,
                    BoundPolicy {
                        policy,
                        bindings: Vec::new(),
                    },
                )
            })
            .collect();
        for binding in bindings.into_values() {
            // A binding of a policy that does not exist does nothing on the server either.
            if let Some(policy) = bound.get_mut(&binding.policy_name) {
                policy.bindings.push(binding);
            }
        }
        // A policy without a binding never acts.
        let policies: Vec<BoundPolicy> = bound
            .into_values()
            .filter(|p| !p.bindings.is_empty())
            .collect();
        let references = || {
            policies
                .iter()
                .filter_map(|p| p.policy.body.as_ref().ok())
                .flat_map(|body| body.expressions())
                .map(|expr| &expr.references)
        };
        // Matching reads labels (object selectors) and the name (resource names, `request`).
        let shape = |root| {
            Shape::of(root, references())
                .with(&["metadata", "name"])
                .with(&["metadata", "labels"])
        };
        PolicyEvaluator {
            env: CelEnv::new(),
            object_shape: shape("object"),
            old_object_shape: shape("oldObject"),
            policies,
            identity: Identity::default(),
        }
    }

    /// Evaluates as `identity` (the `request.userInfo` policies see, and the field manager).
    pub fn with_identity(mut self, identity: Identity) -> Self {
        self.identity = identity;
        self
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Names of the policies that can act (those with at least one binding), sorted.
    pub fn policy_names(&self) -> Vec<&str> {
        self.policies
            .iter()
            .map(|p| p.policy.name.as_str())
            .collect()
    }

    /// Whether no policy can act: every prediction is `Allowed`.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// What the cluster's policies would say about `request`.
    pub fn evaluate(&self, request: &AdmissionRequest<'_>) -> AdmissionPrediction {
        let attributes = request.attributes();
        // Built on first need: converting a large CRD into CEL values is the costly part.
        let mut scope: Option<Result<Context<'_>, String>> = None;
        let mut unknown: Option<AdmissionPrediction> = None;
        for bound in &self.policies {
            let name = &bound.policy.name;
            let note_unknown = |unknown: &mut Option<AdmissionPrediction>, reason: String| {
                unknown.get_or_insert(AdmissionPrediction::Unknown {
                    policy: name.clone(),
                    reason,
                });
            };
            let body = match &bound.policy.body {
                Ok(body) => body,
                Err(reason) => {
                    note_unknown(&mut unknown, reason.clone());
                    continue;
                }
            };
            match body.match_constraints.matches(&attributes) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(reason) => {
                    note_unknown(&mut unknown, format!("spec.matchConstraints: {reason}"));
                    continue;
                }
            }
            match denying_binding(&bound.bindings, &attributes) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(reason) => {
                    note_unknown(&mut unknown, reason);
                    continue;
                }
            }
            if body.param_kind {
                note_unknown(
                    &mut unknown,
                    "the policy reads parameter objects (spec.paramKind), which crdguard does \
                     not observe"
                        .to_string(),
                );
                continue;
            }
            let scope = scope.get_or_insert_with(|| self.scope(request));
            let outcome = match scope {
                Ok(scope) => evaluate(body, scope),
                Err(reason) => Outcome::Unknown(reason.clone()),
            };
            match outcome {
                Outcome::Allowed | Outcome::Skipped => {}
                Outcome::Denied(message) => {
                    return AdmissionPrediction::Denied {
                        policy: name.clone(),
                        message,
                    };
                }
                Outcome::Unknown(reason) => note_unknown(&mut unknown, reason),
            }
        }
        unknown.unwrap_or(AdmissionPrediction::Allowed)
    }

    /// The variables every expression of one request sees.
    fn scope(&self, request: &AdmissionRequest<'_>) -> Result<Context<'_>, String> {
        let convert = |object: Option<&Json>, shape| {
            object.map_or(Ok(Value::Null), |o| to_cel_shaped(o, shape))
        };
        let mut scope = self.env.scope();
        scope.add_variable_from_value("object", convert(request.object, &self.object_shape)?);
        scope.add_variable_from_value(
            "oldObject",
            convert(request.old_object, &self.old_object_shape)?,
        );
        scope.add_variable_from_value("request", to_cel(&request_value(request, &self.identity))?);
        // No paramKind (policies with one are reported before evaluation), cluster-scoped.
        scope.add_variable_from_value("params", Value::Null);
        scope.add_variable_from_value("namespaceObject", Value::Null);
        Ok(scope)
    }
}

/// Whether a binding with the `Deny` action covers the request.
fn denying_binding(
    bindings: &[Binding],
    attributes: &crate::matching::Attributes<'_>,
) -> Result<bool, String> {
    let mut error = None;
    for binding in bindings {
        let body = match &binding.body {
            Ok(body) => body,
            Err(reason) => {
                error.get_or_insert(reason.clone());
                continue;
            }
        };
        if !body.deny {
            continue;
        }
        match body
            .match_resources
            .as_ref()
            .map_or(Ok(true), |m| m.matches(attributes))
        {
            Ok(true) => return Ok(true),
            Ok(false) => {}
            Err(reason) => {
                error.get_or_insert(format!(
                    "binding {} spec.matchResources: {reason}",
                    binding.name
                ));
            }
        }
    }
    error.map_or(Ok(false), Err)
}

impl AdmissionPredictor for PolicyEvaluator {
    fn predict(&self, installed: Option<&Crd>, desired: &Crd) -> AdmissionPrediction {
        match installed {
            None => self.evaluate(&AdmissionRequest::create(&desired.object)),
            Some(installed) => {
                // Only what the policies read of the desired object is copied and merged.
                let object = applied_object(
                    &installed.object,
                    &self.object_shape.prune(&desired.object),
                    &self.identity.field_manager,
                );
                self.evaluate(&AdmissionRequest::update(&installed.object, &object))
            }
        }
    }
}
