//! Gateway API's own `safe-upgrades` ValidatingAdmissionPolicy, exactly as released (read from
//! the corpus), evaluated by crdguard's evaluator on real CRD writes.
//!
//! The policy's two validations (v1.5.x; v1.6.x changes only the second):
//! 1. `object.spec.group != 'gateway.networking.k8s.io' || oldObject == null ||
//!    <object's channel annotation is 'standard'> || <oldObject's channel annotation is
//!    'experimental'>`: an experimental CRD may not replace a standard one.
//! 2. v1.5.x: `group != gw || (<object has the bundle-version annotation> &&
//!    !matches(v, 'v1.[0-4].\\d+') && !matches(v, 'v0'))`: versions before v1.5, and CRDs
//!    without the annotation, are denied.
//!    v1.6.x standard: `... && (matches(v, '-(rc)') || (!matches(v, 'v1.[0-5].\\d+') &&
//!    !matches(v, 'v0')))`; v1.6.x experimental: `... && (v == 'v0.0.0-dev' ||
//!    (v.startsWith('v1.') && !matches(v, '^v1\\.[0-4](\\.|$)')))`.
//!
//! The binding (`validationActions: [Deny]`) narrows the policy's `resources: ["*"]` to
//! `customresourcedefinitions`, CREATE and UPDATE.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected input

mod common;

use common::*;
use crdguard_core::admission::{AdmissionPrediction, AdmissionPredictor};
/// Upstream's markers, spelled here as the release files spell them.
const GATEWAY_VERSION_ANNOTATION: &str = "gateway.networking.k8s.io/bundle-version";
const GATEWAY_CHANNEL_ANNOTATION: &str = "gateway.networking.k8s.io/channel";
use crdguard_admission::PolicyEvaluator;
use crdguard_core::state::ObservedState;

const POLICY: &str = "safe-upgrades.gateway.networking.k8s.io";
const RULE_1_MESSAGE: &str = "Installing experimental CRDs on top of standard channel CRDs is \
                              prohibited by default.";
const RULE_2_V15_MESSAGE: &str = "Installing CRDs with version before v1.5.0 is prohibited";
const RULE_2_V16_EXPERIMENTAL_MESSAGE: &str =
    "Installing CRDs with version other than v0.0.0-dev or v1.5+ is prohibited";

fn assert_denied(prediction: AdmissionPrediction, message_start: &str) {
    match prediction {
        AdmissionPrediction::Denied { policy, message } => {
            assert_eq!(policy, POLICY);
            assert!(
                message.starts_with(message_start),
                "message {message:?} does not start with {message_start:?}"
            );
        }
        other => panic!("expected a denial ({message_start}), got {other:?}"),
    }
}

#[test]
fn experimental_over_standard_is_denied_by_rule_1() {
    // The cluster runs v1.5.0 standard with its policy. Writing v1.5.1 experimental: the group
    // is gateway.networking.k8s.io, oldObject exists, the new channel is 'experimental' and the
    // old one 'standard', so every disjunct of rule 1 is false.
    let evaluator = safe_upgrades("v1.5.0", "standard");
    let installed = gateway_crd("v1.5.0", "standard", HTTPROUTES);
    let desired = gateway_crd("v1.5.1", "experimental", HTTPROUTES);
    assert_denied(
        evaluator.predict(Some(&installed), &desired),
        RULE_1_MESSAGE,
    );
}

#[test]
fn an_older_release_is_denied_by_rule_2() {
    // v1.4.1 over v1.5.1, both standard: rule 1 holds (the new channel is 'standard'), but
    // 'v1.4.1' matches 'v1.[0-4].\d+', so rule 2 is false.
    let evaluator = safe_upgrades("v1.5.1", "standard");
    let installed = gateway_crd("v1.5.1", "standard", HTTPROUTES);
    let desired = gateway_crd("v1.4.1", "standard", HTTPROUTES);
    assert_denied(
        evaluator.predict(Some(&installed), &desired),
        RULE_2_V15_MESSAGE,
    );
}

#[test]
fn a_newer_release_of_the_same_channel_is_allowed() {
    // v1.6.1 over v1.5.1. Standard: rule 1 holds by the new channel 'standard'; experimental:
    // by the old channel 'experimental'. 'v1.6.1' matches neither 'v1.[0-4].\d+' nor 'v0'.
    // Every CRD of the bundle, not just one.
    for channel in ["standard", "experimental"] {
        let evaluator = safe_upgrades("v1.5.1", channel);
        let installed = load(&format!("gateway-api/v1.5.1/{channel}-install.yaml")).crds;
        let desired = load(&format!("gateway-api/v1.6.1/{channel}-install.yaml")).crds;
        assert!(desired.len() >= 10);
        for crd in &desired {
            let old = installed.iter().find(|c| c.name == crd.name);
            assert_eq!(
                evaluator.predict(old, crd),
                AdmissionPrediction::Allowed,
                "{channel} {}",
                crd.name
            );
        }
    }
}

#[test]
fn the_v1_6_standard_policy_denies_v1_5() {
    // The v1.6 standard policy widened the regex to 'v1.[0-5].\d+': 'v1.5.1' matches, so going
    // back to v1.5.1 is denied (while its message still says "before v1.5.0").
    for release in ["v1.6.0", "v1.6.1"] {
        let evaluator = safe_upgrades(release, "standard");
        let installed = gateway_crd(release, "standard", GATEWAYS);
        let desired = gateway_crd("v1.5.1", "standard", GATEWAYS);
        assert_denied(
            evaluator.predict(Some(&installed), &desired),
            RULE_2_V15_MESSAGE,
        );
    }
}

#[test]
fn the_v1_6_experimental_policy_still_allows_v1_5() {
    // The experimental variant of the same release only refuses '^v1\.[0-4](\.|$)': v1.5.1 is
    // allowed there, v1.4.1 is not. (Both variants share one policy name, so whichever channel
    // was installed last decides.)
    let evaluator = safe_upgrades("v1.6.1", "experimental");
    let installed = gateway_crd("v1.6.1", "experimental", GATEWAYS);
    let v15 = gateway_crd("v1.5.1", "experimental", GATEWAYS);
    assert_eq!(
        evaluator.predict(Some(&installed), &v15),
        AdmissionPrediction::Allowed
    );
    let v14 = gateway_crd("v1.4.1", "experimental", GATEWAYS);
    assert_denied(
        evaluator.predict(Some(&installed), &v14),
        RULE_2_V16_EXPERIMENTAL_MESSAGE,
    );
}

#[test]
fn a_crd_without_the_bundle_version_is_denied() {
    // `object.metadata.annotations.exists(k, k == '...bundle-version')` is false, so rule 2 is
    // false whatever the version, under every release of the policy.
    let desired = with_annotation(
        &gateway_crd("v1.6.1", "standard", HTTPROUTES),
        GATEWAY_VERSION_ANNOTATION,
        None,
    );
    for (release, channel) in [("v1.5.1", "standard"), ("v1.6.1", "standard")] {
        let evaluator = safe_upgrades(release, channel);
        assert_denied(evaluator.predict(None, &desired), RULE_2_V15_MESSAGE);
    }
    // On UPDATE the object the policy sees is the result of crdguard's server-side apply: an
    // annotation another manager set survives it (the write is allowed), one that crdguard's
    // own apply set is removed (denied).
    let evaluator = safe_upgrades("v1.6.1", "standard");
    let mut installed = gateway_crd("v1.6.1", "standard", HTTPROUTES);
    assert_eq!(
        evaluator.predict(Some(&installed), &desired),
        AdmissionPrediction::Allowed
    );
    installed.object["metadata"]["managedFields"] = serde_json::json!([{
        "manager": "crdguard", "operation": "Apply", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:annotations": {
            format!("f:{GATEWAY_VERSION_ANNOTATION}"): {},
            format!("f:{GATEWAY_CHANNEL_ANNOTATION}"): {}}}}
    }]);
    assert_denied(
        evaluator.predict(Some(&installed), &desired),
        RULE_2_V15_MESSAGE,
    );
    // Without any annotation at all, `has(object.metadata.annotations)` guards the access.
    let mut bare = desired.clone();
    bare.object["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("annotations");
    assert_denied(
        safe_upgrades("v1.6.1", "experimental").predict(None, &bare),
        RULE_2_V16_EXPERIMENTAL_MESSAGE,
    );
}

#[test]
fn crds_of_other_groups_pass() {
    // The policy matches every CRD write, but both rules start with
    // `object.spec.group != 'gateway.networking.k8s.io'`, true for Envoy Gateway's CRDs and for
    // the experimental-only gateway.networking.x-k8s.io group (even without annotations).
    let evaluator = safe_upgrades("v1.6.1", "standard");
    let envoy = load(
        "envoy-gateway/v1.9.0/charts/gateway-helm/charts/crds/crds/generated/\
         gateway.envoyproxy.io_backendtrafficpolicies.yaml",
    )
    .crds;
    assert_eq!(envoy.len(), 1);
    assert_eq!(
        evaluator.predict(None, &envoy[0]),
        AdmissionPrediction::Allowed
    );
    assert_eq!(
        evaluator.predict(Some(&envoy[0]), &envoy[0]),
        AdmissionPrediction::Allowed
    );
    let xmeshes = gateway_crd(
        "v1.6.1",
        "experimental",
        "xmeshes.gateway.networking.x-k8s.io",
    );
    let unannotated = with_annotation(&xmeshes, GATEWAY_VERSION_ANNOTATION, None);
    assert_eq!(
        evaluator.predict(None, &unannotated),
        AdmissionPrediction::Allowed
    );
}

#[test]
fn creating_experimental_crds_is_allowed() {
    // Rule 1 holds by `oldObject == null` on CREATE.
    let evaluator = safe_upgrades("v1.5.1", "standard");
    for crd in load("gateway-api/v1.6.1/experimental-install.yaml").crds {
        assert_eq!(evaluator.predict(None, &crd), AdmissionPrediction::Allowed);
    }
}

#[test]
fn monthly_dev_builds() {
    // monthly-2026.06 says 'v0.0.0-dev': 'v0' matches, so v1.5 and v1.6 standard deny it;
    // the v1.6 experimental policy lets exactly 'v0.0.0-dev' through.
    let dev = gateway_crd("monthly/monthly-2026.06", "experimental", HTTPROUTES);
    assert_eq!(
        dev.annotation(GATEWAY_VERSION_ANNOTATION),
        Some("v0.0.0-dev")
    );
    let installed = gateway_crd("v1.6.1", "experimental", HTTPROUTES);
    for (release, channel) in [("v1.5.1", "standard"), ("v1.6.1", "standard")] {
        assert_denied(
            safe_upgrades(release, channel).predict(Some(&installed), &dev),
            RULE_2_V15_MESSAGE,
        );
    }
    assert_eq!(
        safe_upgrades("v1.6.1", "experimental").predict(Some(&installed), &dev),
        AdmissionPrediction::Allowed
    );
    // A release candidate of an older minor passes v1.6 standard through `matches(v, '-(rc)')`.
    let rc = with_annotation(&installed, GATEWAY_VERSION_ANNOTATION, Some("v1.5.0-rc.1"));
    let rc = with_annotation(&rc, GATEWAY_CHANNEL_ANNOTATION, Some("standard"));
    assert_eq!(
        safe_upgrades("v1.6.1", "standard").predict(None, &rc),
        AdmissionPrediction::Allowed
    );
}

#[test]
fn evaluates_the_policies_of_an_observed_snapshot() {
    // The same path the planner takes: a snapshot holding CRDs and the policy objects.
    let mut loaded = load("gateway-api/v1.5.1/standard-install.yaml");
    loaded.extend(load("gateway-api/v1.5.1/extras-standard.yaml"));
    let observed = ObservedState::from_snapshot(loaded, Some("v1.33.1"), "snapshot.yaml").unwrap();
    assert_eq!(observed.admission.len(), 2);
    let evaluator = PolicyEvaluator::from_observed(&observed);
    assert_eq!(evaluator.policy_names(), [POLICY]);
    let predictor: &dyn AdmissionPredictor = &evaluator;
    let installed = &observed.crds[HTTPROUTES];
    let older = gateway_crd("v1.4.1", "standard", HTTPROUTES);
    assert_denied(
        predictor.predict(Some(installed), &older),
        RULE_2_V15_MESSAGE,
    );
    let newer = gateway_crd("v1.6.1", "standard", HTTPROUTES);
    assert_eq!(
        predictor.predict(Some(installed), &newer),
        AdmissionPrediction::Allowed
    );
}

#[test]
fn converting_only_what_policies_read_changes_no_verdict() {
    // The evaluator converts only the fields the policies read. A warn-only policy that uses
    // the objects whole forces full conversion without adding a verdict: both must agree on
    // every write between the releases that carry the policy, monthly builds included.
    let whole = [
        serde_json::json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": "uses-everything"},
            "spec": {
                "matchConstraints": {"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"],
                    "operations": ["*"], "resources": ["*"]}]},
                "validations": [{"expression": "size(object) > 0 && oldObject == oldObject"}]}
        }),
        serde_json::json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": "uses-everything"},
            "spec": {"policyName": "uses-everything", "validationActions": ["Warn"]}
        }),
    ];
    let releases = [
        "v1.4.1",
        "v1.5.0",
        "v1.5.1",
        "v1.6.0",
        "v1.6.1",
        "monthly/monthly-2026.06",
    ];
    for policy_release in ["v1.5.1", "v1.6.1"] {
        let mut objects = crdguard_admission::render_guard(&[]).unwrap();
        objects.extend(admission_objects(&format!(
            "gateway-api/{policy_release}/extras-standard.yaml"
        )));
        let shaped = PolicyEvaluator::from_objects(&objects);
        objects.extend(whole.iter().cloned());
        let full = PolicyEvaluator::from_objects(&objects);
        let crds: Vec<(String, Option<crdguard_core::Crd>)> = releases
            .iter()
            .flat_map(|r| ["standard", "experimental"].map(|c| (format!("{r} {c}"), (r, c))))
            .map(|(label, (r, c))| (label, load_if_present(r, c, HTTPROUTES)))
            .collect();
        for (from, installed) in &crds {
            for (to, desired) in &crds {
                let (Some(installed), Some(desired)) = (installed, desired) else {
                    continue;
                };
                assert_eq!(
                    shaped.predict(Some(installed), desired),
                    full.predict(Some(installed), desired),
                    "{policy_release}: {from} → {to}"
                );
                assert_eq!(shaped.predict(None, desired), full.predict(None, desired));
            }
        }
    }
}

fn load_if_present(release: &str, channel: &str, name: &str) -> Option<crdguard_core::Crd> {
    let path = format!("gateway-api/{release}/{channel}-install.yaml");
    corpus(&path)
        .exists()
        .then(|| load(&path).crds.into_iter().find(|c| c.name == name))
        .flatten()
}
