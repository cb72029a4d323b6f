//! Builds a plan: classifies both sides, runs the rules per CRD, then the bundle-level checks
//! and the preflight.

use std::collections::BTreeMap;

use rayon::prelude::*;

use crdguard_schema::{Check, Finding, SchemaAnalysis};

use super::bundles::{BundleInputs, plan_bundles};
use super::companions;
use super::preflight::product_checks;
use super::report::*;
use super::rules::{self, ItemContext};
use crate::admission::{AdmissionPrediction, AdmissionPredictor};
use crate::bundle::Classifier;
use crate::identify::{Identifier, identify_installed};
use crate::model::{BundleMembership, Channel, Crd};
use crate::normalize::semantically_equal;
use crate::owner::{self, Identity};
use crate::policy::{BundlePolicy, Policy};
use crate::requirements::Requirement;
use crate::state::{DesiredState, ObservedState};
use crate::version::BundleVersion;

/// The schema analysis every upgrade goes through. Swap this one line for the structural diff.
pub const SCHEMA_ANALYSIS: SchemaAnalysis = crdguard_schema::diff_crds;

/// The explicit overrides and who crdguard acts as.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    pub take_ownership: bool,
    pub allow_breaking: bool,
    pub migrate: bool,
    pub identity: Identity,
}

pub struct PlanInputs<'a> {
    pub desired: &'a DesiredState,
    pub observed: &'a ObservedState,
    pub policy: &'a Policy,
    pub options: &'a PlanOptions,
    /// Identifies installed bundles by content (the catalog); `None` trusts annotations.
    pub identifier: Option<&'a dyn Identifier>,
    /// Evaluates the cluster's admission policies for each write; `None` skips prediction.
    pub admission: Option<&'a dyn AdmissionPredictor>,
    /// CRDs swapped for their experimental release to keep the installed channel
    /// (`channel::substitute_experimental`); their writes are reported as `channel-preserved`.
    pub preserved_channel: Option<&'a std::collections::BTreeSet<String>>,
}

/// One CRD's decision together with the membership data the bundle checks need.
pub(crate) struct Decided<'a> {
    pub desired: &'a Crd,
    pub desired_bundle: BundleMembership,
    pub item: ItemPlan,
}

/// What other products recorded on each installed bundle (SPEC §12): every product's entry but
/// the planning policy's own, and a warning per unreadable annotation.
fn other_products(
    policy: &crate::policy::Policy,
    installed: &BTreeMap<&str, (&Crd, BundleMembership)>,
) -> (BTreeMap<String, Vec<Requirement>>, BTreeMap<String, String>) {
    let mut by_bundle: BTreeMap<String, Vec<&Crd>> = BTreeMap::new();
    for (crd, membership) in installed.values() {
        if let Some(bundle) = &membership.bundle {
            by_bundle.entry(bundle.clone()).or_default().push(crd);
        }
    }
    let mut unreadable_by_bundle = BTreeMap::new();
    let requirements = by_bundle
        .into_iter()
        .map(|(bundle, crds)| {
            let (entries, unreadable) = crate::requirements::of_bundle(crds);
            if !unreadable.is_empty() {
                unreadable_by_bundle.insert(bundle.clone(), unreadable.join("; "));
            }
            let others = crate::requirements::without(&entries, &policy.metadata.name);
            (bundle, others)
        })
        .filter(|(_, entries)| !entries.is_empty())
        .collect();
    (requirements, unreadable_by_bundle)
}

/// Preflight lines about other products' recorded requirements: which are honoured, which
/// the plan goes above the tested maximum of (a warning), and annotations that could not be
/// read.
fn other_product_checks(
    requirements: &BTreeMap<String, Vec<Requirement>>,
    unreadable: &BTreeMap<String, String>,
    decided: &[Decided],
) -> Vec<PreflightCheck> {
    let mut checks: Vec<PreflightCheck> = unreadable
        .iter()
        .map(|(bundle, message)| PreflightCheck {
            check: "other-products".into(),
            status: CheckStatus::Warn,
            message: format!("{bundle}: {message}"),
        })
        .collect();
    for (bundle, entries) in requirements {
        let written = decided
            .iter()
            .filter(|d| d.desired_bundle.bundle.as_deref() == Some(bundle.as_str()))
            .filter(|d| d.item.action.writes())
            .filter_map(|d| d.desired_bundle.version.as_ref())
            .max();
        let untested: Vec<String> = entries
            .iter()
            .filter_map(|e| written.and_then(|v| e.untested(v)))
            .collect();
        let who: Vec<String> = entries.iter().map(Requirement::who).collect();
        checks.push(if untested.is_empty() {
            PreflightCheck {
                check: "other-products".into(),
                status: CheckStatus::Pass,
                message: format!(
                    "{bundle}: the requirements recorded by {} are checked on every write",
                    who.join(", ")
                ),
            }
        } else {
            PreflightCheck {
                check: "other-products".into(),
                status: CheckStatus::Warn,
                message: format!("{bundle}: {}", untested.join("; ")),
            }
        });
    }
    checks
}

pub fn plan(inputs: &PlanInputs) -> Plan {
    plan_with(inputs, SCHEMA_ANALYSIS)
}

pub fn plan_with(inputs: &PlanInputs, schema_analysis: SchemaAnalysis) -> Plan {
    let classifier = Classifier::new(inputs.policy);
    let installed: BTreeMap<&str, (&Crd, BundleMembership)> = identify_installed(
        inputs.observed.crds.values(),
        |crd| classifier.classify(crd),
        inputs.identifier,
    )
    .into_iter()
    .map(|(crd, membership)| (crd.name.as_str(), (crd, membership)))
    .collect();
    let installed_bundles = installed_bundle_states(installed.values().map(|(_, m)| m));
    let (requirements, requirement_warnings) = other_products(inputs.policy, &installed);
    // Each desired CRD is classified once (a registry lookup and a marker read), aligned with
    // `inputs.desired.crds`: the default policies, the unversioned set and each item's
    // membership all come from this.
    let classified: Vec<BundleMembership> = inputs
        .desired
        .crds
        .iter()
        .map(|crd| classifier.classify(crd))
        .collect();
    let default_policies: BTreeMap<String, BundlePolicy> = classified
        .iter()
        .filter_map(|membership| membership.bundle.as_ref())
        .map(|name| (name.clone(), BundlePolicy::default_for(name)))
        .collect();
    let extension_policy = BundlePolicy::default_for("");
    // Desired CRDs of a known bundle that carry no version marker (a chart that strips them,
    // a tool that rewrote the files) are placed by their content, as installed ones are: as a
    // set per bundle, at the newest release holding them all. Without it their version is
    // unknown and an upgrade they bring is never made. Their plain classification comes from
    // `classified` (desired CRDs are unique by name), not from classifying again.
    let unversioned: Vec<(&Crd, &BundleMembership)> = inputs
        .desired
        .crds
        .iter()
        .zip(&classified)
        .filter(|(_, membership)| {
            membership.bundle.is_some() && membership.marked_version.is_none()
        })
        .collect();
    let unversioned_classified: BTreeMap<&str, &BundleMembership> = unversioned
        .iter()
        .map(|(crd, membership)| (crd.name.as_str(), *membership))
        .collect();
    let unversioned_desired: BTreeMap<&str, BundleMembership> = identify_installed(
        unversioned.iter().map(|(crd, _)| *crd),
        |crd| match unversioned_classified.get(crd.name.as_str()) {
            Some(membership) => (*membership).clone(),
            None => classifier.classify(crd),
        },
        inputs.identifier,
    )
    .into_iter()
    .map(|(crd, membership)| (crd.name.as_str(), membership))
    .collect();

    let decided: Vec<Decided> = inputs
        .desired
        .crds
        .par_iter()
        .zip(classified.into_par_iter())
        .map(|(desired, classified)| {
            // Placement by content overrides the plain classification.
            let desired_bundle = unversioned_desired
                .get(desired.name.as_str())
                .cloned()
                .unwrap_or(classified);
            let (installed_crd, installed_bundle) = match installed.get(desired.name.as_str()) {
                Some((crd, membership)) => (Some(*crd), Some(membership.clone())),
                None => (None, None),
            };
            let policy = desired_bundle
                .bundle
                .as_deref()
                .and_then(|b| inputs.policy.bundle(b).or_else(|| default_policies.get(b)))
                .unwrap_or(&extension_policy);
            let item = decide_item(
                inputs,
                desired,
                &desired_bundle,
                installed_crd,
                installed_bundle.as_ref(),
                desired_bundle
                    .bundle
                    .as_ref()
                    .and_then(|b| installed_bundles.get(b))
                    .cloned(),
                policy,
                desired_bundle
                    .bundle
                    .as_ref()
                    .and_then(|b| requirements.get(b))
                    .map(Vec::as_slice)
                    .unwrap_or_default(),
                desired_bundle
                    .bundle
                    .as_ref()
                    .and_then(|b| requirement_warnings.get(b))
                    .map(String::as_str),
                schema_analysis,
            );
            Decided {
                desired,
                desired_bundle,
                item,
            }
        })
        .collect();

    let bundle_inputs = BundleInputs {
        decided: &decided,
        installed: &installed,
        policy: inputs.policy,
        observed: inputs.observed,
        identifier: inputs.identifier,
    };
    let assessments = plan_bundles(&bundle_inputs);
    let mut preflight = product_checks(inputs.policy, inputs.observed, inputs.admission.is_some());
    preflight.extend(other_product_checks(
        &requirements,
        &requirement_warnings,
        &decided,
    ));
    let mut bundles = Vec::with_capacity(assessments.len());
    let mut items: Vec<ItemPlan> = decided.into_iter().map(|d| d.item).collect();
    let mut companion_warnings = Vec::new();
    for assessment in assessments {
        preflight.extend(assessment.checks);
        let mut bundle = assessment.plan;
        // Companions go with a bundle the plan writes, or that the sources ship them with (a
        // release's own install file); a bundle the sources leave as it is keeps what it has.
        let writes_bundle = items
            .iter()
            .any(|i| i.bundle.as_deref() == Some(bundle.name.as_str()) && i.action.writes());
        let carried = inputs.desired.companions.iter().any(|c| {
            crate::companion::bundle_of(&c.api_version, &c.kind, &c.name)
                == Some(bundle.name.as_str())
        });
        if let Some((version, channel)) = assessment
            .settled
            .as_ref()
            .filter(|_| writes_bundle || carried)
        {
            let planned = companions::plan_companions(&companions::CompanionInputs {
                bundle: &bundle.name,
                version,
                channel: *channel,
                observed: inputs.observed,
                identifier: inputs.identifier,
            });
            bundle.companions = planned.items.iter().map(|i| i.crd.clone()).collect();
            items.extend(planned.items);
            companion_warnings.extend(planned.warnings);
        }
        bundles.push(bundle);
    }
    for item in &mut items {
        item.set_step(dropped_stored_versions(inputs, item));
        item.observed_resource_version = observed_resource_version(inputs.observed, item);
    }
    let summary = Summary::of(&items);
    let blocked = items.iter().any(|i| i.action.stops())
        || bundles.iter().any(|b| b.decision.stops())
        || preflight.iter().any(|c| c.status == CheckStatus::Fail);
    let mut warnings: Vec<PlanWarning> = inputs
        .desired
        .warnings
        .iter()
        .chain(&inputs.observed.warnings)
        .map(|w| PlanWarning {
            source: w.origin.clone(),
            message: w.message.clone(),
        })
        .chain(companion_warnings)
        .chain(stale_acknowledgements(inputs.policy, &items))
        .collect();
    warnings.sort_by(|a, b| (&a.source, &a.message).cmp(&(&b.source, &b.message)));
    Plan {
        api_version: PLAN_API_VERSION,
        kind: "Plan",
        cluster: ClusterInfo {
            source: inputs.observed.source.as_str(),
            server_version: inputs.observed.server_version_text.clone(),
            id: inputs.observed.cluster_id.clone(),
        },
        preflight,
        bundles,
        items,
        summary,
        verdict: if blocked {
            Verdict::Blocked
        } else {
            Verdict::Ok
        },
        overrides: Overrides {
            take_ownership: inputs.options.take_ownership,
            allow_breaking: inputs.options.allow_breaking,
            migrate: inputs.options.migrate,
            release: inputs
                .options
                .identity
                .helm_release
                .as_ref()
                .map(|(name, namespace)| HelmRelease {
                    name: name.clone(),
                    namespace: namespace.clone(),
                }),
        },
        warnings,
        apply: None,
        saved: None,
        install: None,
    }
}

/// Per bundle: the newest installed version and the widest installed channel.
fn installed_bundle_states<'a>(
    memberships: impl Iterator<Item = &'a BundleMembership>,
) -> BTreeMap<String, (Option<BundleVersion>, Option<Channel>)> {
    let mut states: BTreeMap<String, (Option<BundleVersion>, Option<Channel>)> = BTreeMap::new();
    for m in memberships {
        let Some(bundle) = &m.bundle else { continue };
        let entry = states.entry(bundle.clone()).or_default();
        entry.0 = entry.0.take().max(m.version.clone());
        entry.1 = entry.1.max(m.channel);
    }
    states
}

#[allow(clippy::too_many_arguments)]
fn decide_item(
    inputs: &PlanInputs,
    desired: &Crd,
    desired_bundle: &BundleMembership,
    installed: Option<&Crd>,
    installed_bundle: Option<&BundleMembership>,
    bundle_installed: Option<(Option<BundleVersion>, Option<Channel>)>,
    policy: &BundlePolicy,
    other_requirements: &[Requirement],
    requirements_unreadable: Option<&str>,
    schema_analysis: SchemaAnalysis,
) -> ItemPlan {
    let options = inputs.options;
    // A copy whose bundle markers were stripped, and whose content identification places at
    // the desired release, is that release: adding the markers back alone is not a change
    // the annotated cluster would see (SPEC §1). A copy whose own marker names another
    // version is different: the annotated cluster would write the desired marker, and tools
    // that read it (implementations check the bundle version at start) would see the old one.
    let placed_by_content = installed_bundle.is_some_and(|b| {
        b.version.is_some()
            && b.version == desired_bundle.version
            && b.channel == desired_bundle.channel
            && b.marked_version
                .as_ref()
                .is_none_or(|marked| Some(marked) == desired_bundle.version.as_ref())
            && b.warnings
                .iter()
                .any(|w| w.code == Code::IdentifiedByDigest)
    });
    let identical = installed.is_some_and(|i| {
        semantically_equal(i, desired)
            || (placed_by_content && crate::normalize::same_content_but_markers(i, desired))
    });
    let removed_stored_versions: Vec<String> = installed
        .map(|i| {
            i.stored_versions
                .iter()
                .filter(|v| !desired.has_version(v))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let removed_versions_of_unknown_storage: Vec<String> = installed
        .filter(|i| !i.stored_versions_known)
        .map(|i| {
            i.versions
                .iter()
                .map(|v| v.name.clone())
                .filter(|v| !desired.has_version(v))
                .collect()
        })
        .unwrap_or_default();
    let mut ctx = ItemContext {
        desired,
        desired_bundle,
        installed,
        installed_bundle,
        bundle_installed,
        policy,
        required_kind: policy.required_kinds.iter().any(|k| k == &desired.kind),
        identical,
        other_owner: installed.and_then(|i| owner::other_owner(i, &options.identity)),
        take_ownership: options.take_ownership,
        allow_breaking: options.allow_breaking,
        migrate: options.migrate,
        removed_stored_versions,
        removed_versions_of_unknown_storage,
        findings: &[],
        admission_denial: None,
        experimental_counterpart_available: false,
        other_requirements,
        requirements_unreadable,
    };
    // Schema analysis and admission prediction only for CRDs that would be written.
    let writes = !identical && (installed.is_none() || rules::write_intent(&ctx).is_some());
    let mut findings: Vec<Finding> = match installed {
        Some(installed) if writes => schema_analysis(&installed.object, &desired.object),
        _ => Vec::new(),
    };
    if let Some(predictor) = inputs.admission.filter(|_| writes) {
        match predictor.predict(installed, desired) {
            AdmissionPrediction::Allowed => {}
            AdmissionPrediction::Denied { policy, message } => {
                ctx.admission_denial = Some(format!("ValidatingAdmissionPolicy {policy} would deny the write: {message}"));
            }
            AdmissionPrediction::Unknown { policy, reason } => findings.push(Finding::new(
                crdguard_schema::Severity::Warning,
                Check::AdmissionUnknown,
                "",
                ".",
                format!("ValidatingAdmissionPolicy {policy} could not be evaluated ({reason}); the write may still be denied"),
            )),
        }
    }
    let objects = if writes && installed.is_some() {
        super::judge::judge(inputs.observed, inputs.policy, &desired.name, &mut findings)
    } else {
        None
    };
    ctx.findings = &findings;
    let (mut decision, rule_rows) = rules::decide_and_trace(&ctx);
    if decision.action == Action::Upgrade
        && inputs
            .preserved_channel
            .is_some_and(|names| names.contains(&desired.name))
    {
        decision.reasons.insert(
            0,
            Reason::new(
                Code::ChannelPreserved,
                format!(
                    "the sources carry the other channel; writing the {} release of {} to keep the installed channel",
                    desired_bundle.channel.map_or_else(|| "matching".to_string(), |c| c.to_string()),
                    desired_bundle.version.as_ref().map_or_else(|| "that version".to_string(), ToString::to_string)
                ),
            ),
        );
    }
    if decision.action.writes() {
        if let Some(owner) = &ctx.other_owner {
            decision.reasons.push(Reason::new(
                Code::OwnershipTaken,
                format!(
                    "taking over from {owner} ({})",
                    if options.take_ownership {
                        "--take-ownership"
                    } else if policy.on_conflict == crate::policy::ConflictMode::TakeOwnership {
                        "policy onConflict: take-ownership"
                    } else {
                        "a person's kubectl wrote it last; a standard bundle upgrade takes it over"
                    }
                ),
            ));
        }
        if options.migrate && !ctx.removed_stored_versions.is_empty() {
            decision.reasons.push(Reason::new(
                Code::MigrationPlanned,
                format!(
                    "objects stored as {} will be migrated to {} and status.storedVersions trimmed first",
                    ctx.removed_stored_versions.join(", "),
                    desired.storage_version().unwrap_or("the storage version")
                ),
            ));
        }
        if options.allow_breaking
            && rules::blocking_findings(&findings, options.migrate)
                .next()
                .is_some()
        {
            decision.reasons.push(Reason::new(
                Code::BreakingChangeAllowed,
                "breaking schema changes applied because of --allow-breaking",
            ));
        }
    }
    for warning in desired_bundle.warnings.iter().chain(
        installed_bundle
            .map(|b| b.warnings.as_slice())
            .unwrap_or_default(),
    ) {
        decision.reasons.push(warning.clone());
    }
    ItemPlan {
        crd: desired.name.clone(),
        kind: CRD_KIND.to_string(),
        bundle: desired_bundle.bundle.clone(),
        class: desired_bundle.class.as_str(),
        action: decision.action,
        installed: installed.map(|i| InstalledState {
            version: installed_bundle
                .and_then(|b| b.version.as_ref())
                .map(ToString::to_string),
            channel: installed_bundle
                .and_then(|b| b.channel)
                .map(|c| c.to_string()),
            version_range: installed_bundle
                .and_then(|b| b.range.as_ref())
                .map(VersionRange::from),
            stored_versions: i.stored_versions.clone(),
            owner: owner::primary_owner(i).map(|o| o.to_string()),
        }),
        desired: BundleState {
            version: desired_bundle.version.as_ref().map(ToString::to_string),
            channel: desired_bundle.channel.map(|c| c.to_string()),
        },
        reasons: decision.reasons,
        // Every blocker is listed (SPEC §2): a conflict keeps its findings too.
        findings: if matches!(
            decision.action,
            Action::Upgrade | Action::Blocked | Action::Create | Action::Conflict
        ) {
            findings
        } else {
            Vec::new()
        },
        objects,
        step: Step::None,
        observed_resource_version: None,
        companion: None,
        rule_rows,
    }
}

/// `schemaChecks.acknowledge` entries that match no finding of the plan: stale, to be removed.
fn stale_acknowledgements(policy: &Policy, items: &[ItemPlan]) -> Vec<PlanWarning> {
    let findings = items
        .iter()
        .flat_map(|i| i.findings.iter().map(move |f| (i.crd.as_str(), f)));
    policy
        .spec
        .schema_checks
        .stale(findings)
        .into_iter()
        .map(|a| PlanWarning {
            source: format!("policy {}", policy.metadata.name),
            message: format!(
                "schemaChecks.acknowledge entry {{crd: {}, check: {}, path: {}}} matches no finding of this plan; remove it if the change it accepted has landed",
                a.crd, a.check, a.path
            ),
        })
        .collect()
}

/// The installed stored versions an item's desired CRD no longer has (none for companions).
fn dropped_stored_versions(inputs: &PlanInputs, item: &ItemPlan) -> Vec<String> {
    if item.is_companion() {
        return Vec::new();
    }
    let (Some(installed), Some(desired)) = (
        inputs.observed.crds.get(&item.crd),
        inputs.desired.get(&item.crd),
    ) else {
        return Vec::new();
    };
    installed
        .stored_versions
        .iter()
        .filter(|v| !desired.has_version(v))
        .cloned()
        .collect()
}

/// The resourceVersion of the item's object in `observed`, `None` when it is absent (or the
/// snapshot did not record one).
fn observed_resource_version(observed: &ObservedState, item: &ItemPlan) -> Option<String> {
    let object = if item.is_companion() {
        let (kind, name) = item.crd.split_once('/')?;
        &observed
            .admission
            .iter()
            .find(|o| o.kind == kind && o.name == name)?
            .object
    } else {
        &observed.crds.get(&item.crd)?.object
    };
    object
        .pointer("/metadata/resourceVersion")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
}
