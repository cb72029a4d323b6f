//! One test (or more) per row of the SPEC §2 decision table, on real corpus files.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected input

mod common;

use common::*;
use crdguard_core::plan::{Action, Code, PlanInputs, PlanOptions, Verdict, plan_with};
use crdguard_core::{Crd, Policy};
use crdguard_schema::{Check, Finding, Severity};
use serde_json::Value;

// Row 1: not installed → create (absent).
#[test]
fn absent_crds_are_created() {
    let plan = run_default(&desired(gateway("v1.6.1", "standard")), &empty_cluster());
    assert_all(&plan, GW, Action::Create, Code::Absent);
    assert_eq!(plan.summary.create, 10, "v1.6.1 standard has 10 CRDs");
    assert_eq!(plan.verdict, Verdict::Ok);
    assert_eq!(plan.bundle("gateway-api").unwrap().decision, Action::Create);
}

#[test]
fn install_never_keeps_absent_crds_absent_and_blocks_required_kinds() {
    let policy = gateway_policy("install: never\nrequiredKinds: [HTTPRoute]");
    let plan = run(
        &desired(gateway("v1.6.1", "standard")),
        &empty_cluster(),
        &policy,
        &PlanOptions::default(),
    );
    let route = item(&plan, "httproutes.gateway.networking.k8s.io");
    assert_eq!(
        (route.action, first_code(route)),
        (Action::Blocked, Code::MissingRequiredKind)
    );
    let gateways = item(&plan, "gateways.gateway.networking.k8s.io");
    assert_eq!(
        (gateways.action, first_code(gateways)),
        (Action::Keep, Code::InstallDisabled)
    );
    assert_eq!(plan.verdict, Verdict::Blocked);
}

// Row 2: semantically equal → unchanged (identical), even re-serialized with server defaults.
#[test]
fn identical_crds_are_unchanged_even_when_reserialized_with_server_defaults() {
    let observed = installed_with(gateway("v1.6.1", "experimental"), |crd| {
        // What the API server returns: defaults filled, other key order, extra metadata.
        let spec = crd.object["spec"].as_object_mut().unwrap();
        spec.insert(
            "conversion".into(),
            serde_json::json!({ "strategy": "None" }),
        );
        let mut reversed: serde_json::Map<String, Value> = serde_json::Map::new();
        for (k, v) in spec.iter().rev() {
            reversed.insert(k.clone(), v.clone());
        }
        *spec = reversed;
        crd.annotations.insert(
            "kubectl.kubernetes.io/last-applied-configuration".into(),
            "{}".into(),
        );
    });
    let plan = run_default(&desired(gateway("v1.6.1", "experimental")), &observed);
    assert_all(&plan, GW, Action::Unchanged, Code::Identical);
    assert_eq!(
        plan.bundle("gateway-api").unwrap().decision,
        Action::Unchanged
    );
}

// Row 3: installed newer → keep (newer-installed). The headline case: Gateway API
// v1.6.1 experimental installed vs the Envoy Gateway v1.8.3 chart (v1.5.1 experimental).
#[test]
fn newer_installed_bundle_is_kept_while_extension_crds_are_created() {
    let chart = load_dir("envoy-gateway/v1.8.3/charts/gateway-helm/charts/crds/crds");
    let plan = run_default(
        &desired(chart),
        &installed(gateway("v1.6.1", "experimental")),
    );
    assert_all(&plan, GW, Action::Keep, Code::NewerInstalled);
    assert_all(&plan, None, Action::Create, Code::Absent);
    assert!(plan.summary.create >= 8, "{:?}", plan.summary);
    assert_eq!(plan.summary.upgrade, 0);
    assert_eq!(plan.verdict, Verdict::Ok);
    let bundle = plan.bundle("gateway-api").unwrap();
    assert_eq!(bundle.decision, Action::Keep);
    assert_eq!(
        bundle.installed.as_ref().unwrap().version.as_deref(),
        Some("v1.6.1")
    );
    assert_eq!(
        bundle.desired.as_ref().unwrap().version.as_deref(),
        Some("v1.5.1")
    );
}

#[test]
fn patch_downgrade_that_only_differs_in_the_annotation_is_kept() {
    // v1.2.0 → v1.2.1 differ only in the bundle-version annotation (corpus README).
    let plan = run_default(
        &desired(gateway("v1.2.0", "experimental")),
        &installed(gateway("v1.2.1", "experimental")),
    );
    assert_all(&plan, GW, Action::Keep, Code::NewerInstalled);
}

// Row 4: same version, installed experimental, desired standard → keep (wider-channel-installed).
#[test]
fn same_version_narrower_channel_is_kept() {
    let plan = run_default(
        &desired(gateway("v1.5.1", "standard")),
        &installed(gateway("v1.5.1", "experimental")),
    );
    assert_all(&plan, GW, Action::Keep, Code::WiderChannelInstalled);
}

// Row 5: installed without bundle version and different → conflict (unversioned-installed).
#[test]
fn unversioned_installed_crd_that_differs_is_a_conflict() {
    let observed = installed_with(gateway("v1.5.1", "standard"), |crd| {
        crd.annotations.clear();
    });
    let plan = run_default(&desired(gateway("v1.6.1", "standard")), &observed);
    let http = item(&plan, "httproutes.gateway.networking.k8s.io");
    assert_eq!(
        (http.action, first_code(http)),
        (Action::Conflict, Code::UnversionedInstalled)
    );
    assert_eq!(plan.verdict, Verdict::Blocked);
}

// Row 6: owned by someone else and a change is needed → conflict (owned-by-other).
#[test]
fn crds_owned_by_another_helm_release_are_conflicts_unless_taken_over() {
    let observed = installed_with(gateway("v1.5.1", "standard"), |crd| {
        crd.annotations
            .insert("meta.helm.sh/release-name".into(), "istio-base".into());
        crd.annotations.insert(
            "meta.helm.sh/release-namespace".into(),
            "istio-system".into(),
        );
        crd.labels
            .insert("app.kubernetes.io/managed-by".into(), "Helm".into());
    });
    let wanted = desired(gateway("v1.6.1", "standard"));
    let plan = run_default(&wanted, &observed);
    let http = item(&plan, "httproutes.gateway.networking.k8s.io");
    assert_eq!(
        (http.action, first_code(http)),
        (Action::Conflict, Code::OwnedByOther)
    );
    assert!(
        http.reasons[0].message.contains("istio-system/istio-base"),
        "{:?}",
        http.reasons
    );
    assert_eq!(
        http.installed.as_ref().unwrap().owner.as_deref(),
        Some("helm release istio-system/istio-base")
    );

    let taking = PlanOptions {
        take_ownership: true,
        ..PlanOptions::default()
    };
    let plan = run(&wanted, &observed, &Policy::default_policy(), &taking);
    let http = item(&plan, "httproutes.gateway.networking.k8s.io");
    assert_eq!(http.action, Action::Upgrade);
    assert!(
        http.reasons.iter().any(|r| r.code == Code::OwnershipTaken),
        "{:?}",
        http.reasons
    );
    assert!(
        plan.overrides.take_ownership,
        "the override is shown in the plan"
    );

    let skip = gateway_policy("onConflict: skip");
    let plan = run(&wanted, &observed, &skip, &PlanOptions::default());
    let http = item(&plan, "httproutes.gateway.networking.k8s.io");
    assert_eq!(
        (http.action, first_code(http)),
        (Action::Keep, Code::OwnedByOther)
    );
}

#[test]
fn ownership_does_not_matter_when_nothing_changes() {
    let observed = installed_with(gateway("v1.6.1", "standard"), |crd| {
        crd.labels
            .insert("addonmanager.kubernetes.io/mode".into(), "Reconcile".into());
    });
    let plan = run_default(&desired(gateway("v1.5.1", "standard")), &observed);
    assert_all(&plan, GW, Action::Keep, Code::NewerInstalled);
    assert_eq!(plan.verdict, Verdict::Ok);
}

#[test]
fn field_managers_other_than_crdguard_own_the_crd() {
    let managed_by = |manager: &str| {
        let manager = manager.to_string();
        installed_with(gateway("v1.5.1", "standard"), move |crd| {
            crd.managed_fields = vec![
                crdguard_core::model::FieldManager {
                    manager: "apiextensions-apiserver".into(),
                    operation: "Update".into(),
                    owns_spec: false,
                },
                crdguard_core::model::FieldManager {
                    manager: manager.clone(),
                    operation: "Apply".into(),
                    owns_spec: true,
                },
            ];
        })
    };
    let plan = run_default(
        &desired(gateway("v1.6.1", "standard")),
        &managed_by("argocd-controller"),
    );
    let http = item(&plan, "httproutes.gateway.networking.k8s.io");
    assert_eq!(
        (http.action, first_code(http)),
        (Action::Conflict, Code::OwnedByOther)
    );
    assert!(http.reasons[0].message.contains("argocd-controller"));

    // A person's `kubectl apply` is nobody's product (SPEC §2 v2, Ownership): the standard
    // bundle upgrade takes it over, forcing, and says so.
    for person in ["kubectl", "kubectl-client-side-apply", "kubectl-edit"] {
        let plan = run_default(&desired(gateway("v1.6.1", "standard")), &managed_by(person));
        let http = item(&plan, "httproutes.gateway.networking.k8s.io");
        assert_eq!(http.action, Action::Upgrade, "{person}: {:?}", http.reasons);
        assert_eq!(http.step, crdguard_core::plan::Step::ForceApply, "{person}");
        assert!(
            http.reasons
                .iter()
                .any(|r| r.code == Code::OwnershipTaken && r.message.contains(person)),
            "{person}: {:?}",
            http.reasons
        );
    }
    // ... but an extension CRD a person applied stays theirs: crdguard asks.
    let widget = |manager: &str| {
        let mut crd = crdguard_core::load::load_text(
            "widget.yaml",
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {kind: Widget, plural: widgets}\n  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, description: DESC}}}]\n".replace("DESC", manager).as_str(),
            Default::default(),
        )
        .unwrap();
        for c in &mut crd.crds {
            c.managed_fields = vec![crdguard_core::model::FieldManager {
                manager: "kubectl".into(),
                operation: "Apply".into(),
                owns_spec: true,
            }];
        }
        crd
    };
    let plan = run_default(&desired(widget("new")), &installed(widget("old")));
    assert_eq!(item(&plan, "widgets.example.com").action, Action::Conflict);

    let ours = installed_with(gateway("v1.5.1", "standard"), |crd| {
        crd.managed_fields = vec![crdguard_core::model::FieldManager {
            manager: "crdguard".into(),
            operation: "Apply".into(),
            owns_spec: true,
        }];
    });
    let plan = run_default(&desired(gateway("v1.6.1", "standard")), &ours);
    assert_eq!(
        item(&plan, "httproutes.gateway.networking.k8s.io").action,
        Action::Upgrade
    );
}

// Row 1 after an apply cut short: the bundle is installed at the desired release and channel
// but one CRD is missing (its create got a field-manager conflict). A re-run creates it; before,
// it was kept ("the installed bundle stays") and the re-run never converged.
#[test]
fn a_missing_crd_of_the_installed_release_is_created() {
    let mut loaded = gateway("v1.6.1", "experimental");
    loaded
        .crds
        .retain(|c| c.name != "tcproutes.gateway.networking.k8s.io");
    let observed = installed(loaded);
    let plan = run_default(&desired(gateway("v1.6.1", "experimental")), &observed);
    let it = item(&plan, "tcproutes.gateway.networking.k8s.io");
    assert_eq!(
        (it.action, first_code(it)),
        (Action::Create, Code::Absent),
        "{:?}",
        it.reasons
    );
    assert_eq!(plan.summary.create, 1);
    assert_eq!(plan.summary.unchanged, plan.items.len() - 1);
    // Over a standard install of the same release, an experimental-only kind is still a
    // widening, which the default policy does not do.
    let standard = installed(gateway("v1.6.1", "standard"));
    let plan = run_default(&desired(gateway("v1.6.1", "experimental")), &standard);
    assert_ne!(
        item(&plan, "tcproutes.gateway.networking.k8s.io").action,
        Action::Create
    );
}

// Row 7, unknown stored versions: an installed CRD without status (a snapshot made without it)
// may store objects in any version; removing one is blocked, even with --migrate, and the
// message says how to get a snapshot that decides it.
#[test]
fn removing_a_version_of_unknown_storage_is_blocked() {
    let observed = installed_with(gateway("v1.1.0", "experimental"), |crd| {
        crd.stored_versions.clear();
        crd.stored_versions_known = false;
    });
    let wanted = desired(gateway("v1.2.0", "experimental"));
    for migrate in [false, true] {
        let options = PlanOptions {
            migrate,
            ..PlanOptions::default()
        };
        let plan = run(
            &wanted,
            &observed,
            &crdguard_core::Policy::default_policy(),
            &options,
        );
        let it = item(&plan, "grpcroutes.gateway.networking.k8s.io");
        assert_eq!(
            (it.action, first_code(it)),
            (Action::Blocked, Code::StoredVersionsUnknown),
            "migrate {migrate}"
        );
        assert!(it.reasons[0].message.contains("v1alpha2"));
        assert!(it.reasons[0].message.contains("crdguard snapshot"));
        // A CRD that keeps every version is upgraded as usual.
        assert_eq!(
            item(&plan, "httproutes.gateway.networking.k8s.io").action,
            Action::Upgrade
        );
        assert_eq!(plan.verdict, Verdict::Blocked);
    }
}

// Row 7: dropping a version still in status.storedVersions → blocked, or a migration with --migrate.
#[test]
fn dropping_a_stored_version_is_blocked_until_migrated() {
    // v1.1.0 → v1.2.0 removes v1alpha2 from GRPCRoute and ReferenceGrant (corpus README).
    let observed = installed_with(gateway("v1.1.0", "experimental"), |crd| {
        if crd.has_version("v1alpha2") {
            crd.stored_versions = vec![
                "v1alpha2".into(),
                crd.storage_version().unwrap().to_string(),
            ];
        }
    });
    let wanted = desired(gateway("v1.2.0", "experimental"));
    let plan = run_default(&wanted, &observed);
    for name in [
        "grpcroutes.gateway.networking.k8s.io",
        "referencegrants.gateway.networking.k8s.io",
    ] {
        let it = item(&plan, name);
        assert_eq!(
            (it.action, first_code(it)),
            (Action::Blocked, Code::StoredVersionRemoved),
            "{name}"
        );
        assert!(it.reasons[0].message.contains("v1alpha2"));
    }
    // CRDs that keep all their stored versions are upgraded as usual.
    assert_eq!(
        item(&plan, "httproutes.gateway.networking.k8s.io").action,
        Action::Upgrade
    );
    assert_eq!(plan.verdict, Verdict::Blocked);

    let migrate = PlanOptions {
        migrate: true,
        ..PlanOptions::default()
    };
    let plan = run(&wanted, &observed, &Policy::default_policy(), &migrate);
    let grpc = item(&plan, "grpcroutes.gateway.networking.k8s.io");
    assert_eq!(grpc.action, Action::Upgrade);
    assert!(
        grpc.reasons
            .iter()
            .any(|r| r.code == Code::MigrationPlanned),
        "{:?}",
        grpc.reasons
    );
    // The plan is the program apply runs: the step names the versions to migrate off.
    assert_eq!(
        grpc.step,
        crdguard_core::plan::Step::MigrateThenApply {
            dropped: vec!["v1alpha2".into()],
            force: false
        }
    );
    let json = serde_json::to_value(grpc).unwrap();
    assert_eq!(json["step"], "migrate-then-apply");
    assert_eq!(
        item(&plan, "httproutes.gateway.networking.k8s.io").step,
        crdguard_core::plan::Step::Apply
    );
}

fn always_breaking(_: &Value, _: &Value) -> Vec<Finding> {
    vec![Finding::new(
        Severity::Error,
        Check::FieldRemoved,
        "v1",
        ".spec.example",
        "field removed",
    )]
}

// Row 8: breaking schema findings → blocked (breaking-change), unless --allow-breaking.
#[test]
fn breaking_findings_block_upgrades_unless_allowed() {
    let wanted = desired(gateway("v1.6.1", "standard"));
    let observed = installed(gateway("v1.5.1", "standard"));
    let policy = Policy::default_policy();
    let options = PlanOptions::default();
    let inputs = PlanInputs {
        desired: &wanted,
        observed: &observed,
        policy: &policy,
        options: &options,
        identifier: None,
        admission: None,
        preserved_channel: None,
    };
    let plan = plan_with(&inputs, always_breaking);
    let http = item(&plan, "httproutes.gateway.networking.k8s.io");
    assert_eq!(
        (http.action, first_code(http)),
        (Action::Blocked, Code::BreakingChange)
    );
    assert_eq!(http.findings.len(), 1);

    let allow = PlanOptions {
        allow_breaking: true,
        ..PlanOptions::default()
    };
    let inputs = PlanInputs {
        options: &allow,
        ..inputs
    };
    let plan = plan_with(&inputs, always_breaking);
    let http = item(&plan, "httproutes.gateway.networking.k8s.io");
    assert_eq!(http.action, Action::Upgrade);
    assert!(
        http.reasons
            .iter()
            .any(|r| r.code == Code::BreakingChangeAllowed)
    );
    assert!(plan.overrides.allow_breaking);
}

#[test]
fn schema_changes_on_upgrades_are_reported_as_findings() {
    let plan = run_default(
        &desired(gateway("v1.6.1", "standard")),
        &installed(gateway("v1.5.1", "standard")),
    );
    let http = item(&plan, "httproutes.gateway.networking.k8s.io");
    assert_eq!(
        (http.action, first_code(http)),
        (Action::Upgrade, Code::OlderInstalled)
    );
    assert!(
        !http.findings.is_empty(),
        "v1.5.1 → v1.6.1 changes the HTTPRoute schema"
    );
}

// Row 10: installed standard, desired experimental → upgrade if the policy's channel is
// experimental, else keep + warning. (v1.2.x: the experimental channel only adds to standard.)
#[test]
fn channel_widening_follows_the_policy_channel() {
    let wanted = desired(gateway("v1.2.1", "experimental"));
    let observed = installed(gateway("v1.2.0", "standard"));
    let experimental = gateway_policy("channel: experimental");
    let plan = run(&wanted, &observed, &experimental, &PlanOptions::default());
    let http = item(&plan, "httproutes.gateway.networking.k8s.io");
    assert_eq!(
        (http.action, first_code(http)),
        (Action::Upgrade, Code::ChannelWidening)
    );
    assert!(
        http.findings.iter().any(|f| f.check == Check::FieldAdded),
        "experimental fields show as info findings"
    );
    // Experimental-only CRDs come along with the widened bundle.
    let tcp = item(&plan, "tcproutes.gateway.networking.k8s.io");
    assert_eq!(tcp.action, Action::Create);
    assert_eq!(plan.verdict, Verdict::Ok);

    let standard = gateway_policy("channel: standard");
    let plan = run(&wanted, &observed, &standard, &PlanOptions::default());
    let http = item(&plan, "httproutes.gateway.networking.k8s.io");
    assert_eq!(
        (http.action, first_code(http)),
        (Action::Keep, Code::ChannelMismatch)
    );
    // ... and experimental-only CRDs are not sprinkled into a standard install.
    let tcp = item(&plan, "tcproutes.gateway.networking.k8s.io");
    assert_eq!(tcp.action, Action::Keep, "{:?}", tcp.reasons);
}

#[test]
fn widening_to_v1_6_experimental_is_breaking_because_of_the_header_value_pattern() {
    // From v1.5.0 the experimental channel adds a `pattern` to HTTP header values: a tightening
    // that SPEC §5 counts as breaking where the server does not ratchet validation (before
    // 1.30), so there the widening (which a policy asks for) needs --allow-breaking. On a
    // ratcheting server (the common helper's 1.33) existing objects keep working: a warning.
    let wanted = desired(gateway("v1.6.1", "experimental"));
    let mut observed = installed(gateway("v1.5.1", "standard"));
    let widening = gateway_policy("channel: experimental");
    let ratcheting = run(&wanted, &observed, &widening, &PlanOptions::default());
    let http = item(&ratcheting, "httproutes.gateway.networking.k8s.io");
    assert_eq!(http.action, Action::Upgrade, "{:?}", http.reasons);
    let patterns: Vec<_> = http
        .findings
        .iter()
        .filter(|f| f.check == Check::PatternChanged && f.path.contains("headers"))
        .collect();
    assert!(!patterns.is_empty());
    assert!(patterns.iter().all(|f| f.severity == Severity::Warning
        && f.adjustments[0].by == crdguard_schema::AdjustedBy::Ratcheting));

    observed.server_version = Some("v1.29.4".parse().unwrap());
    let plan = run(&wanted, &observed, &widening, &PlanOptions::default());
    let http = item(&plan, "httproutes.gateway.networking.k8s.io");
    assert_eq!(
        (http.action, first_code(http)),
        (Action::Blocked, Code::BreakingChange)
    );
    assert!(
        http.findings
            .iter()
            .any(|f| f.check == Check::PatternChanged && f.path.contains("headers")),
        "{:?}",
        http.findings
    );
    let allow = PlanOptions {
        allow_breaking: true,
        ..PlanOptions::default()
    };
    let plan = run(&wanted, &observed, &widening, &allow);
    let http = item(&plan, "httproutes.gateway.networking.k8s.io");
    assert_eq!(
        (http.action, first_code(http)),
        (Action::Upgrade, Code::ChannelWidening)
    );
}

// Row 11: installed experimental, desired standard of a newer version → never narrowed.
#[test]
fn experimental_installed_is_never_replaced_by_a_newer_standard() {
    let plan = run_default(
        &desired(gateway("v1.5.1", "standard")),
        &installed(gateway("v1.4.1", "experimental")),
    );
    for it in plan.items.iter().filter(|i| i.bundle.as_deref() == GW) {
        assert_eq!(it.action, Action::Keep, "{}: {:?}", it.crd, it.reasons);
        // CRDs new in v1.5.1 (ListenerSet) are absent: not added as standard next to experimental.
        assert!(
            it.reasons
                .iter()
                .any(|r| r.code == Code::WiderChannelInstalled),
            "{}: {:?}",
            it.crd,
            it.reasons
        );
    }
}

// Row 12: installed older → upgrade (older-installed / below-minimum).
#[test]
fn older_installed_is_upgraded() {
    // v1.2.0 → v1.2.1: only the annotation differs, and the rules still say upgrade.
    let plan = run_default(
        &desired(gateway("v1.2.1", "experimental")),
        &installed(gateway("v1.2.0", "experimental")),
    );
    assert_all(&plan, GW, Action::Upgrade, Code::OlderInstalled);
}

#[test]
fn below_minimum_is_upgraded_with_if_below_minimum() {
    let policy = gateway_policy("minimum: v1.2.1\nupgrade: if-below-minimum");
    let plan = run(
        &desired(gateway("v1.2.1", "experimental")),
        &installed(gateway("v1.2.0", "experimental")),
        &policy,
        &PlanOptions::default(),
    );
    assert_all(&plan, GW, Action::Upgrade, Code::BelowMinimum);
    assert_eq!(plan.verdict, Verdict::Ok);
}

// Row 13: within the policy range → keep (compatible-installed).
#[test]
fn compatible_installed_is_kept() {
    let policy = gateway_policy("minimum: v1.1.0\nupgrade: if-below-minimum");
    let plan = run(
        &desired(gateway("v1.2.1", "experimental")),
        &installed(gateway("v1.2.0", "experimental")),
        &policy,
        &PlanOptions::default(),
    );
    assert_all(&plan, GW, Action::Keep, Code::CompatibleInstalled);
    let recommended = gateway_policy("recommended: v1.2.0");
    let plan = run(
        &desired(gateway("v1.2.1", "experimental")),
        &installed(gateway("v1.2.0", "experimental")),
        &recommended,
        &PlanOptions::default(),
    );
    assert_all(&plan, GW, Action::Keep, Code::CompatibleInstalled);
}

// Row 14: extension CRD differs → upgrade (extension-update); Envoy Gateway v1.8.3 → v1.9.0.
#[test]
fn extension_crds_that_differ_are_updated_unless_the_change_is_breaking() {
    let old = load_dir("envoy-gateway/v1.8.3/charts/gateway-helm/charts/crds/crds/generated");
    let new = load_dir("envoy-gateway/v1.9.0/charts/gateway-helm/charts/crds/crds/generated");
    let mut observed = installed(old);
    observed.server_version = Some("v1.29.4".parse().unwrap());
    let plan = run_default(&desired(new), &observed);
    let client = item(&plan, "clienttrafficpolicies.gateway.envoyproxy.io");
    assert_eq!(
        (client.action, first_code(client)),
        (Action::Upgrade, Code::ExtensionUpdate)
    );
    assert_eq!(client.class, "extension");
    assert_eq!(client.bundle, None);
    assert!(!client.findings.is_empty());
    let patch = item(&plan, "envoypatchpolicies.gateway.envoyproxy.io");
    assert_eq!(patch.action, Action::Unchanged);
    // v1.9.0 adds a pattern to CORS allowOrigins: a real tightening, so on a server that does
    // not ratchet validation (1.29) this one is blocked ...
    let security = item(&plan, "securitypolicies.gateway.envoyproxy.io");
    assert_eq!(
        (security.action, first_code(security)),
        (Action::Blocked, Code::BreakingChange)
    );
    assert!(
        security
            .findings
            .iter()
            .any(|f| f.check == Check::PatternChanged && f.path == ".spec.cors.allowOrigins[*]")
    );
    // ... and on one that does (1.33), existing objects keep working: upgraded, with warnings.
    observed.server_version = Some("v1.33.1".parse().unwrap());
    let new = load_dir("envoy-gateway/v1.9.0/charts/gateway-helm/charts/crds/crds/generated");
    let plan = run_default(&desired(new), &observed);
    let security = item(&plan, "securitypolicies.gateway.envoyproxy.io");
    assert_eq!(security.action, Action::Upgrade, "{:?}", security.findings);
    assert!(
        security
            .findings
            .iter()
            .all(|f| f.severity != Severity::Error)
    );
}

// Bundle-level checks.
#[test]
fn below_minimum_without_upgrade_blocks_the_bundle() {
    let policy = gateway_policy("minimum: v1.6.0\nupgrade: never");
    let plan = run(
        &desired(gateway("v1.6.1", "standard")),
        &installed(gateway("v1.5.1", "standard")),
        &policy,
        &PlanOptions::default(),
    );
    let bundle = plan.bundle("gateway-api").unwrap();
    assert_eq!(bundle.decision, Action::Blocked);
    assert_eq!(bundle.reasons[0].code, Code::BelowMinimum);
    assert_eq!(plan.verdict, Verdict::Blocked);
    assert!(
        plan.preflight
            .iter()
            .any(|c| c.check == "bundle-version"
                && c.status == crdguard_core::plan::CheckStatus::Fail)
    );
}

#[test]
fn above_tested_maximum_is_a_warning() {
    let policy = gateway_policy("testedMaximum: v1.5.1");
    let plan = run(
        &desired(gateway("v1.5.1", "standard")),
        &installed(gateway("v1.6.1", "standard")),
        &policy,
        &PlanOptions::default(),
    );
    let bundle = plan.bundle("gateway-api").unwrap();
    assert!(
        bundle
            .reasons
            .iter()
            .any(|r| r.code == Code::AboveTestedMaximum)
    );
    assert_eq!(bundle.decision, Action::Keep);
    assert_eq!(plan.verdict, Verdict::Ok);
}

#[test]
fn mixed_versions_are_reported_as_bundle_skew() {
    let mut skewed = gateway("v1.5.1", "standard");
    let newer = gateway("v1.6.1", "standard");
    skewed.crds.retain(|c| c.kind != "HTTPRoute");
    skewed
        .crds
        .extend(newer.crds.into_iter().filter(|c| c.kind == "HTTPRoute"));
    let plan = run_default(&desired(gateway("v1.5.1", "standard")), &installed(skewed));
    let bundle = plan.bundle("gateway-api").unwrap();
    assert!(
        bundle.reasons.iter().any(|r| r.code == Code::BundleSkew),
        "{:?}",
        bundle.reasons
    );
}

#[test]
fn missing_required_kind_blocks() {
    let policy = gateway_policy("requiredKinds: [Gateway, XBackendTrafficPolicy]");
    let plan = run(
        &desired(gateway("v1.6.1", "standard")),
        &empty_cluster(),
        &policy,
        &PlanOptions::default(),
    );
    let bundle = plan.bundle("gateway-api").unwrap();
    assert_eq!(bundle.decision, Action::Blocked);
    assert!(bundle.reasons.iter().any(
        |r| r.code == Code::MissingRequiredKind && r.message.contains("XBackendTrafficPolicy")
    ));
}

#[test]
fn old_kubernetes_blocks_cel_crds_and_fails_the_policy_minimum() {
    let mut observed = empty_cluster();
    observed.server_version = Some("v1.24.3".parse().unwrap());
    observed.server_version_text = Some("v1.24.3".into());
    let plan = run_default(&desired(gateway("v1.6.1", "standard")), &observed);
    let bundle = plan.bundle("gateway-api").unwrap();
    assert_eq!(bundle.decision, Action::Blocked);
    assert!(
        bundle
            .reasons
            .iter()
            .any(|r| r.code == Code::KubernetesTooOld)
    );

    let policy = policy(
        "apiVersion: crdguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec:\n  kubernetes: {minimum: '1.30'}\n",
    );
    let plan = run(
        &desired(gateway("v0.5.0", "standard")),
        &observed,
        &policy,
        &PlanOptions::default(),
    );
    let check = plan
        .preflight
        .iter()
        .find(|c| c.check == "kubernetes-version")
        .unwrap();
    assert_eq!(check.status, crdguard_core::plan::CheckStatus::Fail);
    assert_eq!(plan.verdict, Verdict::Blocked);
}

#[test]
fn unknown_server_version_is_a_warning() {
    let mut observed = empty_cluster();
    observed.server_version = None;
    let plan = run_default(&desired(gateway("v1.6.1", "standard")), &observed);
    let check = plan
        .preflight
        .iter()
        .find(|c| c.check == "kubernetes-version")
        .unwrap();
    assert_eq!(check.status, crdguard_core::plan::CheckStatus::Warn);
    assert_eq!(plan.verdict, Verdict::Ok);
}

#[test]
fn absent_crd_of_a_newer_installed_bundle_is_not_added_as_an_older_copy() {
    // Installed v1.6.1 standard lacks TCPRoute; the chart carries v1.5.1 experimental.
    let plan = run_default(
        &desired(gateway("v1.5.1", "experimental")),
        &installed(gateway("v1.6.1", "standard")),
    );
    let tcp = item(&plan, "tcproutes.gateway.networking.k8s.io");
    assert_eq!(tcp.action, Action::Keep, "{:?}", tcp.reasons);
    assert!(tcp.reasons.iter().any(|r| r.code == Code::NewerInstalled));
}

#[test]
fn bad_bundle_annotation_is_a_warning_not_a_crash() {
    let observed = installed_with(gateway("v1.5.1", "standard"), |crd| {
        crd.annotations.insert(
            "gateway.networking.k8s.io/bundle-version".into(),
            "not-a-version".into(),
        );
        crd.annotations
            .insert("gateway.networking.k8s.io/channel".into(), "beta".into());
    });
    let plan = run_default(&desired(gateway("v1.6.1", "standard")), &observed);
    let http = item(&plan, "httproutes.gateway.networking.k8s.io");
    assert!(
        http.reasons
            .iter()
            .any(|r| r.code == Code::BadAnnotation && r.message.contains("not-a-version"))
    );
    assert_eq!(
        (http.action, first_code(http)),
        (Action::Conflict, Code::UnversionedInstalled)
    );
}

// SPEC §11: `unchanged` compares only what crdguard applies. A conversion webhook's caBundle
// injected into the installed CRD by cert-manager's cainjector (the desired CRD leaves it out)
// never makes the CRD differ; a different webhook service does.
#[test]
fn an_injected_ca_bundle_does_not_make_a_crd_differ() {
    let webhook = |crd: &mut Crd, service: &str, ca: Option<&str>| {
        let mut client = serde_json::json!({
            "service": { "name": service, "namespace": "cert-manager", "path": "/convert" }
        });
        if let Some(ca) = ca {
            client["caBundle"] = ca.into();
        }
        crd.object["spec"]["conversion"] = serde_json::json!({
            "strategy": "Webhook",
            "webhook": { "clientConfig": client, "conversionReviewVersions": ["v1"] }
        });
    };
    let name = "httproutes.gateway.networking.k8s.io";
    let mut wanted = gateway("v1.6.1", "standard");
    for crd in &mut wanted.crds {
        webhook(crd, "converter", None);
    }
    let desired = desired(wanted);
    let injected = installed_with(gateway("v1.6.1", "standard"), |crd| {
        webhook(
            crd,
            "converter",
            Some("LS0tLS1CRUdJTi1DRVJUSUZJQ0FURS0tLS0t"),
        )
    });
    let plan = run_default(&desired, &injected);
    assert_eq!(
        item(&plan, name).action,
        Action::Unchanged,
        "{:?}",
        item(&plan, name).reasons
    );
    assert_eq!(plan.summary.unchanged, plan.items.len());

    let moved = installed_with(gateway("v1.6.1", "standard"), |crd| {
        webhook(
            crd,
            "old-converter",
            Some("LS0tLS1CRUdJTi1DRVJUSUZJQ0FURS0tLS0t"),
        )
    });
    let plan = run_default(&desired, &moved);
    assert_ne!(item(&plan, name).action, Action::Unchanged);
}

// SPEC §2: a blocked item lists every blocker, not just the first row that fired: a GRPCRoute
// CRD owned by another Helm release that still stores v1alpha2 objects is both owned by
// another and losing a stored version.
#[test]
fn a_blocked_item_lists_every_blocker() {
    let name = "grpcroutes.gateway.networking.k8s.io";
    let observed = installed_with(gateway("v1.1.0", "experimental"), |crd| {
        crd.annotations
            .insert("meta.helm.sh/release-name".into(), "other-product".into());
        crd.annotations
            .insert("meta.helm.sh/release-namespace".into(), "other".into());
        if crd.name == "grpcroutes.gateway.networking.k8s.io" {
            crd.stored_versions = vec!["v1alpha2".into(), "v1".into()];
        }
    });
    let plan = run_default(&desired(gateway("v1.6.1", "experimental")), &observed);
    let it = item(&plan, name);
    let codes: Vec<Code> = it.reasons.iter().map(|r| r.code).collect();
    assert!(it.action.stops(), "{:?}", it.action);
    assert!(codes.contains(&Code::OwnedByOther), "{codes:?}");
    assert!(codes.contains(&Code::StoredVersionRemoved), "{codes:?}");
}

// SPEC §2 v2: without a policy that widens, a chart vendoring the experimental channel over a
// standard install keeps standard, says which setting would widen, and does not add the
// experimental-only kinds; a policy with `channel: experimental` widens.
#[test]
fn experimental_sources_do_not_widen_a_standard_install_without_a_policy() {
    let observed = installed(gateway("v1.6.1", "standard"));
    let wanted = desired(gateway("v1.6.1", "experimental"));
    let plan = run_default(&wanted, &observed);
    for it in &plan.items {
        assert!(
            !it.action.writes(),
            "{}: {:?} {:?}",
            it.crd,
            it.action,
            it.reasons
        );
    }
    let xbackends = item(&plan, "xbackendtrafficpolicies.gateway.networking.x-k8s.io");
    assert!(
        xbackends
            .reasons
            .iter()
            .any(|r| r.code == Code::ChannelMismatch && r.message.contains("channel: experimental")),
        "{:?}",
        xbackends.reasons
    );
    let widening = gateway_policy("channel: experimental");
    let plan = run(
        &wanted,
        &observed,
        &widening,
        &PlanOptions {
            allow_breaking: true,
            ..PlanOptions::default()
        },
    );
    assert!(
        plan.items
            .iter()
            .any(|i| i.action.writes() && first_code(i) == Code::ChannelWidening),
        "{:?}",
        plan.items
            .iter()
            .map(|i| (&i.crd, i.action))
            .collect::<Vec<_>>()
    );
}
