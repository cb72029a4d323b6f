//! SPEC §2 invariants, whatever the inputs: checked over every pair of Gateway API releases and
//! channels in the corpus (installed × desired), under several policies and flags.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected input

mod common;

use std::collections::BTreeMap;

use rayon::prelude::*;

use common::*;
use crdguard_core::bundle::Classifier;
use crdguard_core::load::Loaded;
use crdguard_core::plan::{CheckStatus, Plan, PlanOptions, Verdict};
use crdguard_core::state::ObservedState;
use crdguard_core::{BundleVersion, Channel, Policy};

fn releases() -> Vec<String> {
    let mut tags: Vec<(BundleVersion, String)> = std::fs::read_dir(corpus().join("gateway-api"))
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            Some((name.parse().ok()?, name))
        })
        .collect();
    tags.sort();
    tags.into_iter().map(|(_, t)| t).collect()
}

/// What a successful apply of `plan` leaves in the cluster: written CRDs replaced by the
/// desired ones (as the server would store them), everything else untouched.
fn simulate_apply(
    plan: &Plan,
    desired: &crdguard_core::DesiredState,
    before: &ObservedState,
) -> ObservedState {
    let mut after = before.clone();
    for item in plan.items.iter().filter(|i| i.action.writes()) {
        let mut crd = desired.get(&item.crd).unwrap().clone();
        let previous = before.crds.get(&item.crd);
        let mut stored: Vec<String> = previous
            .map(|p| p.stored_versions.clone())
            .unwrap_or_default();
        let storage = crd.storage_version().unwrap().to_string();
        if !stored.contains(&storage) {
            stored.push(storage);
        }
        crd.stored_versions = stored;
        crd.stored_versions_known = true;
        sync_object(&mut crd);
        after.crds.insert(crd.name.clone(), crd);
    }
    after
}

fn check_invariants(
    label: &str,
    plan: &Plan,
    desired: &crdguard_core::DesiredState,
    before: &ObservedState,
    policy: &Policy,
) {
    let classifier = Classifier::new(policy);
    let installed_bundle: Option<(BundleVersion, Channel)> = before
        .crds
        .values()
        .map(|c| classifier.classify(c))
        .filter(|m| m.bundle.as_deref() == GW)
        .filter_map(|m| Some((m.version?, m.channel?)))
        .max();
    for item in plan.items.iter().filter(|i| i.action.writes()) {
        let desired_version: Option<BundleVersion> =
            item.desired.version.as_ref().map(|v| v.parse().unwrap());
        let desired_channel = item.desired.channel.as_deref().and_then(Channel::parse);
        // Never lowers a bundle version (per CRD, and relative to the installed bundle).
        if let Some(installed) = &item.installed {
            if let (Some(from), Some(to)) = (&installed.version, &desired_version) {
                let from: BundleVersion = from.parse().unwrap();
                assert!(to >= &from, "{label}: {} lowered {from} → {to}", item.crd);
            }
            // Never replaces experimental with standard.
            if installed.channel.as_deref() == Some("experimental") {
                assert_ne!(
                    desired_channel,
                    Some(Channel::Standard),
                    "{label}: {} narrowed",
                    item.crd
                );
            }
            // Never drops a stored version that still holds objects (without --migrate).
            let desired_crd = desired.get(&item.crd).unwrap();
            for stored in &installed.stored_versions {
                assert!(
                    plan.overrides.migrate || desired_crd.has_version(stored),
                    "{label}: {} drops stored version {stored}",
                    item.crd
                );
            }
        }
        if let (Some((bundle_version, _)), Some(to), Some("gateway-api")) =
            (&installed_bundle, &desired_version, item.bundle.as_deref())
        {
            assert!(
                to >= bundle_version,
                "{label}: {} written at {to} below installed bundle {bundle_version}",
                item.crd
            );
        }
    }
    // Never writes when preflight fails: the verdict says blocked.
    if plan.preflight.iter().any(|c| c.status == CheckStatus::Fail) {
        assert_eq!(plan.verdict, Verdict::Blocked, "{label}");
    }
    if plan.items.iter().any(|i| i.action.stops()) {
        assert_eq!(plan.verdict, Verdict::Blocked, "{label}");
    }
}

#[test]
fn invariants_hold_for_every_pair_of_releases_and_a_second_run_is_a_no_op() {
    let tags = releases();
    assert!(tags.len() >= 21, "corpus has {} releases", tags.len());
    let mut sets: BTreeMap<(String, &str), Loaded> = BTreeMap::new();
    for tag in &tags {
        for channel in ["standard", "experimental"] {
            sets.insert((tag.clone(), channel), gateway(tag, channel));
        }
    }
    let policies = [
        ("default", Policy::default_policy()),
        (
            "standard-channel",
            gateway_policy("channel: standard\nupgrade: if-below-minimum\nminimum: v1.0.0"),
        ),
        ("never-upgrade", gateway_policy("upgrade: never")),
    ];
    let flag_sets = [
        PlanOptions::default(),
        PlanOptions {
            migrate: true,
            take_ownership: true,
            allow_breaking: true,
            ..PlanOptions::default()
        },
    ];
    let states: Vec<(String, ObservedState, crdguard_core::DesiredState)> = sets
        .iter()
        .map(|((tag, channel), set)| {
            (
                format!("{tag}/{channel}"),
                installed(set.clone()),
                desired(set.clone()),
            )
        })
        .collect();
    let counts: Vec<(usize, usize)> = states
        .par_iter()
        .map(|(from, before, _)| {
            let (mut pairs, mut second_runs) = (0, 0);
            for (to, _, wanted) in &states {
                for (policy_name, policy) in &policies {
                    for options in &flag_sets {
                        let label =
                            format!("{from} → {to} [{policy_name}, {:?}]", plan_flags(options));
                        let plan = run(wanted, before, policy, options);
                        check_invariants(&label, &plan, wanted, before, policy);
                        pairs += 1;
                        if plan.verdict == Verdict::Ok {
                            let after = simulate_apply(&plan, wanted, before);
                            let again = run(wanted, &after, policy, options);
                            let writes: Vec<&str> = again
                                .items
                                .iter()
                                .filter(|i| i.action.writes())
                                .map(|i| i.crd.as_str())
                                .collect();
                            assert!(
                                writes.is_empty(),
                                "{label}: second run still writes {writes:?}"
                            );
                            second_runs += 1;
                        }
                    }
                }
            }
            (pairs, second_runs)
        })
        .collect();
    let pairs: usize = counts.iter().map(|c| c.0).sum();
    let second_runs: usize = counts.iter().map(|c| c.1).sum();
    assert!(pairs > 5000, "{pairs}");
    assert!(second_runs > 1000, "{second_runs}");
}

fn plan_flags(options: &PlanOptions) -> (bool, bool, bool) {
    (
        options.migrate,
        options.take_ownership,
        options.allow_breaking,
    )
}
