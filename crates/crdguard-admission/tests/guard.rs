//! crdguard's own guard policy: every deny rule fires, every write crdguard itself makes is let
//! through, and the rendered objects are valid admissionregistration.k8s.io/v1. The policy is
//! evaluated by the same evaluator that predicts Gateway API's `safe-upgrades`.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected input

mod common;

use common::*;
use crdguard_core::admission::{AdmissionPrediction, AdmissionPredictor};
/// Upstream's markers, spelled here as the release files spell them.
const GATEWAY_VERSION_ANNOTATION: &str = "gateway.networking.k8s.io/bundle-version";
const GATEWAY_CHANNEL_ANNOTATION: &str = "gateway.networking.k8s.io/channel";
use crdguard_admission::*;
use crdguard_core::model::Crd;
use crdguard_core::version::KubeVersion;
use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use serde_json::{Value, json};

const BOTH: [VersionComparison; 2] = [
    VersionComparison::Portable,
    VersionComparison::SemverLibrary,
];

fn guard(comparison: VersionComparison) -> PolicyEvaluator {
    let objects = render_guard_with(&GuardOptions {
        version_comparison: comparison,
        ..GuardOptions::default()
    })
    .unwrap();
    PolicyEvaluator::from_objects(&objects)
}

fn default_guard() -> PolicyEvaluator {
    PolicyEvaluator::from_objects(&render_guard(&[]).unwrap())
}

/// The object of `crd` with the Gateway API version and channel set (`None` removes).
fn gateway_object(crd: &Crd, version: Option<&str>, channel: Option<&str>) -> Value {
    let crd = with_annotation(crd, GATEWAY_VERSION_ANNOTATION, version);
    with_annotation(&crd, GATEWAY_CHANNEL_ANNOTATION, channel).object
}

fn httproutes() -> Crd {
    gateway_crd("v1.6.1", "standard", HTTPROUTES)
}

fn update(evaluator: &PolicyEvaluator, old: &Value, new: &Value) -> AdmissionPrediction {
    evaluator.evaluate(&AdmissionRequest::update(old, new))
}

/// Asserts a denial by the guard naming crdguard, `rule` and the override.
fn assert_denied(prediction: AdmissionPrediction, rule: &str, needles: &[&str]) {
    let AdmissionPrediction::Denied { policy, message } = prediction else {
        panic!("expected {rule} to deny, got {prediction:?}");
    };
    assert_eq!(policy, GUARD_NAME);
    for needle in ["crdguard guard", &format!("rule {rule}"), "Override"]
        .iter()
        .copied()
        .chain(needles.iter().copied())
    {
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
}

#[test]
fn lowering_the_bundle_version_is_denied_unless_overridden() {
    let crd = httproutes();
    let old = gateway_object(&crd, Some("v1.6.1"), Some("standard"));
    let new = gateway_object(&crd, Some("v1.5.1"), Some("standard"));
    for comparison in BOTH {
        assert_denied(
            update(&guard(comparison), &old, &new),
            RULE_NO_DOWNGRADE,
            &[
                "from v1.6.1 to v1.5.1",
                HTTPROUTES,
                "gateway-api",
                ALLOW_DOWNGRADE_ANNOTATION,
            ],
        );
    }
    let overridden = gateway_object(
        &with_annotation(&crd, ALLOW_DOWNGRADE_ANNOTATION, Some("true")),
        Some("v1.5.1"),
        Some("standard"),
    );
    assert_eq!(
        update(&default_guard(), &old, &overridden),
        AdmissionPrediction::Allowed
    );
}

#[test]
fn versions_compare_as_numbers_and_only_releases_are_ordered() {
    // (installed, written, denied): the same verdicts from both renderings.
    let cases = [
        ("v1.6.1", "v1.6.0", true),
        ("v1.10.0", "v1.9.0", true),
        ("v2.0.0", "v1.99.99", true),
        ("1.6.1", "v1.5.0", true),
        ("v1.9.0", "v1.10.0", false),
        ("v1.5.1", "v1.6.1", false),
        ("v1.6.1", "v1.6.1", false),
        // Pre-releases, dev builds and malformed versions are not ordered: allowed.
        ("v1.6.0-rc.1", "v1.5.1", false),
        ("v1.6.1", "v1.6.1-rc.1", false),
        ("v0.0.0-dev", "v1.4.1", false),
        ("v1.6.1", "v0.0.0-dev", false),
        ("v1.6.1", "v1.5", false),
        ("v1.6.1", "v01.2.3", false),
        ("v1.6.1", "v1.2.3+build.7", false),
        // Ten digits would overflow nothing, but are not a release we order either.
        ("v1.6.1", "v1.0.9999999999", false),
        ("v9999999999.0.0", "v1.0.0", false),
    ];
    let crd = httproutes();
    for comparison in BOTH {
        let evaluator = guard(comparison);
        for (installed, written, denied) in cases {
            let old = gateway_object(&crd, Some(installed), Some("standard"));
            let new = gateway_object(&crd, Some(written), Some("standard"));
            let prediction = update(&evaluator, &old, &new);
            if denied {
                assert_denied(prediction, RULE_NO_DOWNGRADE, &[]);
            } else {
                assert_eq!(
                    prediction,
                    AdmissionPrediction::Allowed,
                    "{comparison:?}: {installed} → {written}"
                );
            }
        }
    }
}

#[test]
fn experimental_to_standard_is_denied_unless_overridden() {
    let crd = httproutes();
    let old = gateway_object(&crd, Some("v1.6.1"), Some("experimental"));
    // Same version, and a newer one: the channel rule is independent of the version.
    for version in ["v1.6.1", "v1.7.0"] {
        let new = gateway_object(&crd, Some(version), Some("standard"));
        assert_denied(
            update(&default_guard(), &old, &new),
            RULE_NO_CHANNEL_NARROWING,
            &["experimental", HTTPROUTES, ALLOW_DOWNGRADE_ANNOTATION],
        );
    }
    let overridden = gateway_object(
        &with_annotation(&crd, ALLOW_DOWNGRADE_ANNOTATION, Some("true")),
        Some("v1.6.1"),
        Some("standard"),
    );
    assert_eq!(
        update(&default_guard(), &old, &overridden),
        AdmissionPrediction::Allowed
    );
}

#[test]
fn removing_the_bundle_annotations_is_denied() {
    let crd = httproutes();
    let old = gateway_object(&crd, Some("v1.6.1"), Some("standard"));
    for new in [
        gateway_object(&crd, None, Some("standard")),
        gateway_object(&crd, Some("v1.6.1"), None),
        gateway_object(&crd, None, None),
    ] {
        assert_denied(
            update(&default_guard(), &old, &new),
            RULE_KEEP_ANNOTATIONS,
            &[GATEWAY_VERSION_ANNOTATION],
        );
    }
    // Even when the CRD has no annotations left at all.
    let mut bare = old.clone();
    bare["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("annotations");
    assert_denied(
        update(&default_guard(), &old, &bare),
        RULE_KEEP_ANNOTATIONS,
        &[],
    );
}

#[test]
fn deleting_a_managed_crd_is_denied_unless_labelled() {
    let old = httproutes().object;
    assert_denied(
        default_guard().evaluate(&AdmissionRequest::delete(&old)),
        RULE_NO_DELETE,
        &[ALLOW_DELETE_LABEL, HTTPROUTES],
    );
    // The x-k8s.io group belongs to the bundle too.
    let xmeshes = gateway_crd(
        "v1.6.1",
        "experimental",
        "xmeshes.gateway.networking.x-k8s.io",
    );
    assert_denied(
        default_guard().evaluate(&AdmissionRequest::delete(&xmeshes.object)),
        RULE_NO_DELETE,
        &[],
    );
    // Labelling first is an allowed UPDATE; then the DELETE is allowed.
    let mut labelled = old.clone();
    labelled["metadata"]["labels"] = json!({ ALLOW_DELETE_LABEL: "true" });
    assert_eq!(
        update(&default_guard(), &old, &labelled),
        AdmissionPrediction::Allowed
    );
    assert_eq!(
        default_guard().evaluate(&AdmissionRequest::delete(&labelled)),
        AdmissionPrediction::Allowed
    );
}

/// Every CRD of `to` written over `from` (release, channel) is allowed by `evaluator`.
fn assert_bundle_write_allowed(evaluator: &PolicyEvaluator, from: (&str, &str), to: (&str, &str)) {
    let installed = load(&format!("gateway-api/{}/{}-install.yaml", from.0, from.1)).crds;
    let desired = load(&format!("gateway-api/{}/{}-install.yaml", to.0, to.1)).crds;
    for crd in &desired {
        let old = installed.iter().find(|c| c.name == crd.name);
        assert_eq!(
            evaluator.predict(old, crd),
            AdmissionPrediction::Allowed,
            "{from:?} → {to:?}: {}",
            crd.name
        );
    }
}

#[test]
fn crdguard_writes_pass_the_guard() {
    for comparison in BOTH {
        let evaluator = guard(comparison);
        for (from, to) in [
            (("v1.5.1", "standard"), ("v1.6.1", "standard")),
            (("v1.5.1", "experimental"), ("v1.6.1", "experimental")),
            // Channel widening, at the same version and at a newer one.
            (("v1.6.1", "standard"), ("v1.6.1", "experimental")),
            (("v1.5.1", "standard"), ("v1.6.1", "experimental")),
            // A re-apply of the same release.
            (("v1.6.1", "standard"), ("v1.6.1", "standard")),
            // Long upgrade paths, across the storage version moves.
            (("v0.5.0", "standard"), ("v1.6.1", "standard")),
            (("v1.0.0", "experimental"), ("v1.6.1", "experimental")),
        ] {
            assert_bundle_write_allowed(&evaluator, from, to);
        }
    }
}

#[test]
fn crdguard_upgrades_pass_the_guard_and_safe_upgrades_together() {
    // Next to Gateway API's own policy (which, unlike the guard, also refuses channel
    // widening): upgrading every CRD of the bundle within its channel.
    let mut objects = render_guard(&["gateway-api".to_string()]).unwrap();
    objects.extend(admission_objects("gateway-api/v1.5.1/extras-standard.yaml"));
    let evaluator = PolicyEvaluator::from_objects(&objects);
    assert_eq!(evaluator.policy_names().len(), 2);
    for channel in ["standard", "experimental"] {
        assert_bundle_write_allowed(&evaluator, ("v1.5.1", channel), ("v1.6.1", channel));
    }
    // Where both would deny, the first by name decides the message.
    let installed = gateway_crd("v1.6.1", "standard", HTTPROUTES);
    let older = gateway_crd("v1.4.1", "standard", HTTPROUTES);
    let AdmissionPrediction::Denied { policy, .. } = evaluator.predict(Some(&installed), &older)
    else {
        panic!("expected a denial");
    };
    assert_eq!(policy, GUARD_NAME);
}

#[test]
fn creates_other_groups_unannotated_crds_and_status_are_never_denied() {
    let evaluator = default_guard();
    let crd = httproutes();
    let unannotated = gateway_object(&crd, None, None);
    // CREATE, even of a managed CRD without annotations or with an old version.
    assert_eq!(
        evaluator.evaluate(&AdmissionRequest::create(&unannotated)),
        AdmissionPrediction::Allowed
    );
    let old_version = gateway_crd("v0.5.0", "standard", HTTPROUTES);
    assert_eq!(
        evaluator.predict(None, &old_version),
        AdmissionPrediction::Allowed
    );
    // A managed CRD that never had annotations stays editable.
    assert_eq!(
        update(&evaluator, &unannotated, &unannotated),
        AdmissionPrediction::Allowed
    );
    // Another group: not the guard's business, whatever its annotations say.
    let envoy = crd_of_envoy_gateway();
    let old = gateway_object(&envoy, Some("v1.6.1"), Some("experimental"));
    let new = gateway_object(&envoy, Some("v1.0.0"), Some("standard"));
    assert_eq!(update(&evaluator, &old, &new), AdmissionPrediction::Allowed);
    assert_eq!(
        evaluator.evaluate(&AdmissionRequest::delete(&old)),
        AdmissionPrediction::Allowed
    );
    // The status subresource (storedVersions patches) is outside the rules.
    let lowered = gateway_object(&crd, Some("v1.0.0"), Some("standard"));
    let old = gateway_object(&crd, Some("v1.6.1"), Some("experimental"));
    assert_eq!(
        evaluator.evaluate(&AdmissionRequest::update(&old, &lowered).on_subresource("status")),
        AdmissionPrediction::Allowed
    );
    // Label and unrelated annotation edits keep the bundle annotations.
    let mut edited = old.clone();
    edited["metadata"]["labels"] = json!({"team": "net"});
    edited["metadata"]["annotations"]["note"] = json!("x");
    assert_eq!(
        update(&evaluator, &old, &edited),
        AdmissionPrediction::Allowed
    );
}

fn crd_of_envoy_gateway() -> Crd {
    let mut crd = crd(
        "envoy-gateway/v1.9.0/charts/gateway-helm/charts/crds/crds/generated/\
         gateway.envoyproxy.io_envoyproxies.yaml",
        "envoyproxies.gateway.envoyproxy.io",
    );
    crd.object["metadata"]["annotations"] = json!({});
    crd
}

#[test]
fn rendered_objects_are_valid_admissionregistration_v1() {
    for comparison in BOTH {
        let objects = render_guard_with(&GuardOptions {
            version_comparison: comparison,
            ..GuardOptions::default()
        })
        .unwrap();
        assert_eq!(objects.len(), 2);
        // Through YAML, as `crdguard guard render` prints it.
        let yaml = serde_yaml_ng::to_string(&objects).unwrap();
        let objects: Vec<Value> = serde_yaml_ng::from_str(&yaml).unwrap();
        let policy: ValidatingAdmissionPolicy = serde_json::from_value(objects[0].clone()).unwrap();
        let binding: ValidatingAdmissionPolicyBinding =
            serde_json::from_value(objects[1].clone()).unwrap();
        // The typed objects drop unknown fields: a round trip that loses nothing proves every
        // field is one the API knows.
        assert_eq!(serde_json::to_value(&policy).unwrap(), objects[0]);
        assert_eq!(serde_json::to_value(&binding).unwrap(), objects[1]);

        assert_eq!(policy.metadata.name.as_deref(), Some(GUARD_NAME));
        assert_eq!(binding.metadata.name.as_deref(), Some(GUARD_NAME));
        let spec = policy.spec.unwrap();
        assert_eq!(spec.failure_policy.as_deref(), Some("Fail"));
        let binding_spec = binding.spec;
        assert_eq!(binding_spec.policy_name, GUARD_NAME);
        assert_eq!(binding_spec.validation_actions, ["Deny"]);
        let rules = spec.match_constraints.unwrap().resource_rules.unwrap();
        for rule in &rules {
            // Status patches must never reach the guard.
            for resource in rule.resources.iter().flatten() {
                assert_eq!(resource, "customresourcedefinitions");
            }
            assert!(
                !rule
                    .operations
                    .iter()
                    .flatten()
                    .any(|o| o == "CREATE" || o == "*")
            );
        }

        // Every expression parses with the `cel` crate.
        let mut expressions: Vec<String> = Vec::new();
        expressions.extend(
            spec.match_conditions
                .iter()
                .flatten()
                .map(|c| c.expression.clone()),
        );
        expressions.extend(
            spec.variables
                .iter()
                .flatten()
                .map(|v| v.expression.clone()),
        );
        for v in spec.validations.iter().flatten() {
            expressions.push(v.expression.clone());
            expressions.extend(v.message_expression.clone());
            let message = v.message.as_deref().unwrap_or_default();
            assert!(message.contains("crdguard") && !message.contains('\n'));
        }
        assert!(expressions.len() > 10);
        for expression in &expressions {
            if let Err(e) = kube_cel::cel::Program::compile(expression) {
                panic!("{expression}: {e}");
            }
        }
        let semver_used = expressions.iter().any(|e| e.contains("semver("));
        assert_eq!(semver_used, comparison == VersionComparison::SemverLibrary);
    }
}

#[test]
fn options_and_errors() {
    assert!(matches!(
        render_guard(&["istio".to_string()]),
        Err(GuardError::UnknownBundle(_))
    ));
    assert_eq!(
        VersionComparison::for_server(Some(KubeVersion::new(1, 33, 4))),
        VersionComparison::Portable
    );
    assert_eq!(
        VersionComparison::for_server(Some(KubeVersion::new(1, 34, 0))),
        VersionComparison::SemverLibrary
    );
    assert_eq!(
        VersionComparison::for_server(None),
        VersionComparison::Portable
    );
    let hostile = ManagedBundle {
        name: "x".into(),
        groups: vec!["a' || true || '".into()],
        version: crdguard_core::registry::MarkerKey::Annotation("x/v".into()),
        channel: None,
    };
    assert!(matches!(
        render_guard_with(&GuardOptions {
            bundles: vec![hostile],
            ..GuardOptions::default()
        }),
        Err(GuardError::InvalidName { .. })
    ));
}

#[test]
fn a_second_bundle_is_guarded_with_its_own_annotation() {
    let other = ManagedBundle {
        name: "acme".into(),
        groups: vec!["acme.example.com".into()],
        version: crdguard_core::registry::MarkerKey::Annotation("acme.example.com/version".into()),
        channel: None,
    };
    let objects = render_guard_with(&GuardOptions {
        bundles: vec![ManagedBundle::gateway_api(), other],
        ..GuardOptions::default()
    })
    .unwrap();
    let evaluator = PolicyEvaluator::from_objects(&objects);
    let object = |version: &str| {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.acme.example.com",
                         "annotations": {"acme.example.com/version": version}},
            "spec": {"group": "acme.example.com"}
        })
    };
    assert_denied(
        update(&evaluator, &object("v2.0.0"), &object("v1.0.0")),
        RULE_NO_DOWNGRADE,
        &["acme bundle version", "from v2.0.0 to v1.0.0"],
    );
    assert_eq!(
        update(&evaluator, &object("v1.0.0"), &object("v2.0.0")),
        AdmissionPrediction::Allowed
    );
    // The Gateway API is still covered.
    let crd = httproutes();
    assert_denied(
        update(
            &evaluator,
            &gateway_object(&crd, Some("v1.6.1"), Some("standard")),
            &gateway_object(&crd, Some("v1.5.1"), Some("standard")),
        ),
        RULE_NO_DOWNGRADE,
        &[],
    );
}

#[test]
fn a_bundle_whose_version_is_a_label_is_guarded_by_that_label() {
    let labelled = ManagedBundle {
        name: "acme".into(),
        groups: vec!["acme.example.com".into()],
        version: crdguard_core::registry::MarkerKey::Label("app.kubernetes.io/version".into()),
        channel: None,
    };
    let objects = render_guard_with(&GuardOptions {
        bundles: vec![ManagedBundle::gateway_api(), labelled],
        ..GuardOptions::default()
    })
    .unwrap();
    let evaluator = PolicyEvaluator::from_objects(&objects);
    let object = |version: &str| {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.acme.example.com",
                         "labels": {"app.kubernetes.io/version": version},
                         // An annotation of the same key is not the marker.
                         "annotations": {"app.kubernetes.io/version": "v9.9.9"}},
            "spec": {"group": "acme.example.com"}
        })
    };
    assert_denied(
        update(&evaluator, &object("v2.0.0"), &object("v1.0.0")),
        RULE_NO_DOWNGRADE,
        &["acme bundle version", "from v2.0.0 to v1.0.0"],
    );
    assert_eq!(
        update(&evaluator, &object("v1.0.0"), &object("v2.0.0")),
        AdmissionPrediction::Allowed
    );
    let mut unlabelled = object("v1.0.0");
    unlabelled["metadata"]["labels"] = json!({});
    assert_denied(
        update(&evaluator, &object("v2.0.0"), &unlabelled),
        RULE_KEEP_ANNOTATIONS,
        &[],
    );
}

#[test]
fn the_builtin_prometheus_operator_bundle_is_guarded_without_a_v() {
    let prometheus = ManagedBundle::known("prometheus-operator").expect("built in");
    let objects = render_guard_with(&GuardOptions {
        bundles: vec![prometheus],
        ..GuardOptions::default()
    })
    .unwrap();
    let evaluator = PolicyEvaluator::from_objects(&objects);
    let object = |version: &str| {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "prometheuses.monitoring.coreos.com",
                         "annotations": {"operator.prometheus.io/version": version}},
            "spec": {"group": "monitoring.coreos.com"}
        })
    };
    assert_denied(
        update(&evaluator, &object("0.93.0"), &object("0.92.1")),
        RULE_NO_DOWNGRADE,
        &["from 0.93.0 to 0.92.1"],
    );
    assert_eq!(
        update(&evaluator, &object("0.92.1"), &object("0.93.0")),
        AdmissionPrediction::Allowed
    );
    // Removing its one marker names it alone: the bundle has no channel key.
    let mut bare = object("0.93.0");
    bare["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("annotations");
    let AdmissionPrediction::Denied { message, .. } = update(&evaluator, &object("0.93.0"), &bare)
    else {
        panic!("removing the marker was allowed");
    };
    assert!(
        message.contains("(operator.prometheus.io/version)"),
        "{message}"
    );
}
