//! How policies and bindings combine, and what happens with policies crdguard cannot evaluate:
//! never a silent pass, never a crash.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected input

use crdguard_admission::{AdmissionRequest, Identity, PolicyEvaluator};
use crdguard_core::admission::{AdmissionPrediction, AdmissionPredictor};
use serde_json::{Value, json};

fn crd(name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name, "labels": labels},
        "spec": {"group": name.split_once('.').map(|(_, g)| g).unwrap_or_default()},
    })
}

fn policy(name: &str, spec: Value) -> Value {
    let mut spec = spec;
    if spec.get("matchConstraints").is_none() {
        spec["matchConstraints"] = json!({"resourceRules": [{
            "apiGroups": ["apiextensions.k8s.io"], "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"], "resources": ["customresourcedefinitions"]}]});
    }
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
           "metadata": {"name": name}, "spec": spec})
}

fn binding(name: &str, policy: &str, extra: Value) -> Value {
    let mut spec = json!({"policyName": policy, "validationActions": ["Deny"]});
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    json!({"apiVersion": "admissionregistration.k8s.io/v1",
           "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": name}, "spec": spec})
}

fn deny_all(message: &str) -> Value {
    policy(
        "deny-all",
        json!({"validations": [{"expression": "false", "message": message}]}),
    )
}

fn create(evaluator: &PolicyEvaluator, object: &Value) -> AdmissionPrediction {
    evaluator.evaluate(&AdmissionRequest::create(object))
}

fn is_unknown(prediction: &AdmissionPrediction) -> bool {
    matches!(prediction, AdmissionPrediction::Unknown { .. })
}

#[test]
fn only_deny_bindings_block() {
    let object = crd("widgets.example.com", json!({}));
    for (actions, blocks) in [
        (json!(["Deny"]), true),
        (json!(["Warn"]), false),
        (json!(["Audit"]), false),
        (json!(["Warn", "Audit"]), false),
        (json!(["Deny", "Audit"]), true),
    ] {
        let evaluator = PolicyEvaluator::from_objects(&[
            deny_all("no"),
            binding("b", "deny-all", json!({ "validationActions": actions })),
        ]);
        let denied = matches!(
            create(&evaluator, &object),
            AdmissionPrediction::Denied { .. }
        );
        assert_eq!(denied, blocks, "{actions}");
    }
}

#[test]
fn a_policy_needs_a_binding_and_a_binding_its_policy() {
    let object = crd("widgets.example.com", json!({}));
    let unbound = PolicyEvaluator::from_objects(&[deny_all("no")]);
    assert!(unbound.is_empty());
    assert_eq!(create(&unbound, &object), AdmissionPrediction::Allowed);
    let orphan = PolicyEvaluator::from_objects(&[binding("b", "missing", json!({}))]);
    assert!(orphan.is_empty());
    // Non-admission objects are ignored.
    let noise = PolicyEvaluator::from_objects(&[object.clone(), json!("text"), json!(null)]);
    assert!(noise.is_empty());
}

#[test]
fn bindings_narrow_by_name_labels_and_operation() {
    let named = binding(
        "b",
        "deny-all",
        json!({"matchResources": {"resourceRules": [{
            "apiGroups": ["*"], "apiVersions": ["*"], "operations": ["CREATE"],
            "resources": ["customresourcedefinitions"],
            "resourceNames": ["widgets.example.com"]}]}}),
    );
    let evaluator = PolicyEvaluator::from_objects(&[deny_all("no widgets"), named]);
    let widgets = crd("widgets.example.com", json!({}));
    let gadgets = crd("gadgets.example.com", json!({}));
    assert_eq!(
        create(&evaluator, &widgets),
        AdmissionPrediction::Denied {
            policy: "deny-all".into(),
            message: "no widgets".into()
        }
    );
    assert_eq!(create(&evaluator, &gadgets), AdmissionPrediction::Allowed);
    // The binding covers CREATE only.
    assert_eq!(
        evaluator.evaluate(&AdmissionRequest::update(&widgets, &widgets)),
        AdmissionPrediction::Allowed
    );

    let by_label = binding(
        "b",
        "deny-all",
        json!({"matchResources": {"objectSelector": {"matchLabels": {"locked": "yes"}}}}),
    );
    let evaluator = PolicyEvaluator::from_objects(&[deny_all("locked"), by_label]);
    let locked = crd("widgets.example.com", json!({"locked": "yes"}));
    assert!(matches!(
        create(&evaluator, &locked),
        AdmissionPrediction::Denied { .. }
    ));
    assert_eq!(create(&evaluator, &widgets), AdmissionPrediction::Allowed);
    // Unlocking: the old object matches the selector, so the policy still applies.
    assert!(matches!(
        evaluator.evaluate(&AdmissionRequest::update(&locked, &widgets)),
        AdmissionPrediction::Denied { .. }
    ));
}

#[test]
fn planned_writes_keep_what_matching_needs() {
    // The policy's CEL reads no labels, its binding selects by label: the labels of the planned
    // object must still be there when only what the CEL reads is converted.
    let by_label = binding(
        "b",
        "deny-all",
        json!({"matchResources": {"objectSelector": {"matchLabels": {"locked": "yes"}}}}),
    );
    let evaluator = PolicyEvaluator::from_objects(&[deny_all("locked"), by_label]);
    let origin = crdguard_core::Origin {
        source: "test".into(),
        document: 1,
        item: None,
    };
    let as_crd = |labels: Value| {
        let mut object = crd("widgets.example.com", labels);
        object["spec"]["names"] = json!({"plural": "widgets", "kind": "Widget"});
        object["spec"]["scope"] = json!("Cluster");
        object["spec"]["versions"] = json!([{"name": "v1", "served": true, "storage": true}]);
        crdguard_core::load::crd_from_value(origin.clone(), object).unwrap()
    };
    let locked = as_crd(json!({"locked": "yes"}));
    let open = as_crd(json!({}));
    assert!(matches!(
        evaluator.predict(None, &locked),
        AdmissionPrediction::Denied { .. }
    ));
    assert_eq!(evaluator.predict(None, &open), AdmissionPrediction::Allowed);
    assert!(matches!(
        evaluator.predict(Some(&open), &locked),
        AdmissionPrediction::Denied { .. }
    ));
}

#[test]
fn policies_of_other_resources_do_not_apply() {
    let pods = policy(
        "pods",
        json!({"matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                "operations": ["*"], "resources": ["pods"]}]},
               "validations": [{"expression": "false"}]}),
    );
    let evaluator = PolicyEvaluator::from_objects(&[pods, binding("b", "pods", json!({}))]);
    assert_eq!(
        create(&evaluator, &crd("widgets.example.com", json!({}))),
        AdmissionPrediction::Allowed
    );
}

#[test]
fn request_user_and_variables_are_available() {
    let spec = json!({
        "variables": [{"name": "user", "expression": "request.userInfo.username"}],
        "validations": [{
            "expression": "variables.user != 'ci-bot' && request.operation == 'CREATE' && \
                           request.name == object.metadata.name && oldObject == null && \
                           params == null && request.namespace == ''",
            "messageExpression": "'denied for ' + variables.user"}],
    });
    let objects = [policy("p", spec), binding("b", "p", json!({}))];
    let object = crd("widgets.example.com", json!({}));
    let default = PolicyEvaluator::from_objects(&objects);
    assert_eq!(default.identity(), &Identity::default());
    assert_eq!(create(&default, &object), AdmissionPrediction::Allowed);
    let bot = PolicyEvaluator::from_objects(&objects).with_identity(Identity {
        username: "ci-bot".into(),
        ..Identity::default()
    });
    assert_eq!(
        create(&bot, &object),
        AdmissionPrediction::Denied {
            policy: "p".into(),
            message: "denied for ci-bot".into()
        }
    );
}

#[test]
fn what_cannot_be_evaluated_is_unknown_never_allowed() {
    let object = crd("widgets.example.com", json!({}));
    for expression in [
        // Unknown function, unknown variable, the authorizer, a type error, not a bool.
        "object.spec.group.frobnicate()",
        "nothing == 1",
        "authorizer.group('').resource('x').check('get').allowed()",
        "object.spec.group + 1 == 2",
        "'yes'",
        // Message literals (the interpreter would panic), syntax errors.
        "google.protobuf.Int64Value{value: 1} == 1",
        "object.spec.(",
        // Panics inside kube-cel, caught.
        "'%.1000000f'.format([1.0]) != ''",
        // Allocation bombs, refused before they allocate.
        "lists.range(99999999999999).size() > 0",
    ] {
        let evaluator = PolicyEvaluator::from_objects(&[
            policy("p", json!({"validations": [{"expression": expression}]})),
            binding("b", "p", json!({})),
        ]);
        let prediction = create(&evaluator, &object);
        assert!(is_unknown(&prediction), "{expression}: {prediction:?}");
    }
}

#[test]
fn a_definite_denial_outranks_another_policys_unknown() {
    let object = crd("widgets.example.com", json!({}));
    let evaluator = PolicyEvaluator::from_objects(&[
        policy(
            "a-unknown",
            json!({"validations": [{"expression": "nope()"}]}),
        ),
        binding("a", "a-unknown", json!({})),
        policy("b-deny", json!({"validations": [{"expression": "false"}]})),
        binding("b", "b-deny", json!({})),
    ]);
    assert!(matches!(
        create(&evaluator, &object),
        AdmissionPrediction::Denied { policy, .. } if policy == "b-deny"
    ));
}

#[test]
fn unreadable_objects_and_params_are_unknown() {
    let object = crd("widgets.example.com", json!({}));
    let cases = [
        // Validations of the wrong type.
        vec![
            policy("p", json!({"validations": "false"})),
            binding("b", "p", json!({})),
        ],
        // A policy without match constraints.
        vec![
            json!({"apiVersion": "admissionregistration.k8s.io/v1",
                   "kind": "ValidatingAdmissionPolicy", "metadata": {"name": "p"},
                   "spec": {"validations": [{"expression": "false"}]}}),
            binding("b", "p", json!({})),
        ],
        // A binding whose actions are not a list.
        vec![
            deny_all("x"),
            binding("b", "deny-all", json!({"validationActions": "Deny"})),
        ],
        // A selector operator that does not exist.
        vec![
            deny_all("x"),
            binding(
                "b",
                "deny-all",
                json!({"matchResources": {"objectSelector": {"matchExpressions": [
                    {"key": "a", "operator": "Sideways"}]}}}),
            ),
        ],
        // Parameters crdguard does not see.
        vec![
            policy(
                "p",
                json!({"paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
                       "validations": [{"expression": "params.data.x == 'y'"}]}),
            ),
            binding(
                "b",
                "p",
                json!({"paramRef": {"name": "cm", "namespace": "default"}}),
            ),
        ],
    ];
    for objects in cases {
        let prediction = create(&PolicyEvaluator::from_objects(&objects), &object);
        assert!(is_unknown(&prediction), "{objects:?}: {prediction:?}");
    }
}

#[test]
fn hostile_input_never_crashes() {
    // Deep and long expressions, deep objects: refused or evaluated, never a stack overflow.
    let deep_object = (0..500).fold(json!(1), |inner, _| json!({ "a": inner }));
    let mut object = crd("widgets.example.com", json!({}));
    object["spec"]["deep"] = deep_object;
    let expressions = [
        "(".repeat(100_000),
        vec!["1"; 20_000].join(" + "),
        "!".repeat(60_000) + "true",
        format!("object{}", ".a".repeat(30_000)),
        "object.spec.deep.a.a.a == 1".to_string(),
    ];
    for expression in expressions {
        let evaluator = PolicyEvaluator::from_objects(&[
            policy("p", json!({"validations": [{"expression": expression}]})),
            binding("b", "p", json!({})),
        ]);
        let prediction = create(&evaluator, &object);
        let shown: String = format!("{prediction:?}").chars().take(300).collect();
        assert!(is_unknown(&prediction), "{shown}");
    }
}
