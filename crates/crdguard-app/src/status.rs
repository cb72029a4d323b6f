//! `crdguard status`: inventory of the observed cluster.

use crdguard_admission::{ProbeVerdict, probe_policy};
use crdguard_core::status::{Status, status};
use crdguard_core::{ObservedState, Policy};

use crate::error::CommandError;
use crate::settings::ClusterSettings;

#[derive(Debug, Clone, Default)]
pub struct StatusSettings {
    /// A policy whose bundles (and known bundles) are reported besides the built-in ones.
    pub policy: Option<std::path::PathBuf>,
    pub cluster: ClusterSettings,
}

pub fn run(args: &StatusSettings) -> Result<Status, CommandError> {
    let options = crate::session::input_options();
    let policy = crate::session::policy_file(args.policy.as_deref(), options)?
        .unwrap_or_else(Policy::default_policy);
    let observed = crate::session::observed_state(&args.cluster, options)?;
    let mut report = status(
        &observed,
        &policy,
        Some(crate::session::catalog_identifier()?),
    );
    probe_companion_policies(&mut report, &observed, &policy);
    Ok(report)
}

/// For each installed companion policy, what it lets through (SPEC §9 v2): the backward
/// writes tried against that policy and its bindings, from a CRD of the bundle as installed.
fn probe_companion_policies(report: &mut Status, observed: &ObservedState, policy: &Policy) {
    let registry = policy.registry();
    let bindings: Vec<&serde_json::Value> = observed
        .admission
        .iter()
        .filter(|o| o.kind == "ValidatingAdmissionPolicyBinding")
        .map(|o| &o.object)
        .collect();
    for bundle in &mut report.bundles {
        let Some(known) = registry.bundle(&bundle.name) else {
            continue;
        };
        // A CRD of the bundle's first group (its main one), else of any of its groups.
        let sample = known
            .groups
            .iter()
            .find_map(|group| observed.crds.values().find(|crd| &crd.group == group));
        let Some(sample) = sample else {
            continue;
        };
        for companion in &mut bundle.companions {
            let Some(name) = companion.object.strip_prefix("ValidatingAdmissionPolicy/") else {
                continue;
            };
            let Some(installed) = observed
                .admission
                .iter()
                .find(|o| o.kind == "ValidatingAdmissionPolicy" && o.name == name)
            else {
                continue;
            };
            let mut objects = vec![installed.object.clone()];
            objects.extend(bindings.iter().map(|b| (*b).clone()));
            for probe in probe_policy(&objects, known, sample) {
                match probe.verdict {
                    ProbeVerdict::LetThrough => companion.lets_through.push(probe.write),
                    ProbeVerdict::Stopped => companion.stops.push(probe.write),
                    ProbeVerdict::Unknown => companion.undecided.push(probe.write),
                }
            }
        }
    }
}
