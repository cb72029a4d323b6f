//! Bundle-level checks (SPEC §2, after the table): minimum, tested maximum, skew, required
//! kinds, channel and Kubernetes version, evaluated on the state the plan would leave behind.

use std::collections::{BTreeMap, BTreeSet};

use super::engine::Decided;
use super::report::*;
use crate::model::{BundleMembership, Channel, Class, Crd};
use crate::policy::{BundlePolicy, Policy};
use crate::state::ObservedState;
use crate::version::{BundleVersion, KubeVersion};

/// CEL validation rules (`x-kubernetes-validations`) need Kubernetes ≥ 1.25.
pub const CEL_MINIMUM_KUBERNETES: KubeVersion = KubeVersion::new(1, 25, 0);

pub(crate) struct BundleInputs<'a> {
    pub decided: &'a [Decided<'a>],
    pub installed: &'a BTreeMap<&'a str, (&'a Crd, BundleMembership)>,
    pub policy: &'a Policy,
    pub observed: &'a ObservedState,
    pub identifier: Option<&'a dyn crate::identify::Identifier>,
}

/// A bundle's plan and the preflight checks it contributes.
pub(crate) struct BundleAssessment {
    pub plan: BundlePlan,
    pub checks: Vec<PreflightCheck>,
    /// The release and channel the bundle will be at after the plan (its newest version and
    /// widest channel), when the sources carry the bundle: its companions follow it.
    pub settled: Option<(BundleVersion, Channel)>,
}

/// One CRD of a bundle as it will be after the plan.
struct Projected<'a> {
    kind: &'a str,
    version: Option<&'a BundleVersion>,
    channel: Option<Channel>,
}

pub(crate) fn plan_bundles(inputs: &BundleInputs) -> Vec<BundleAssessment> {
    let mut names: BTreeSet<&str> = BTreeSet::new();
    names.extend(
        inputs
            .decided
            .iter()
            .filter_map(|d| d.desired_bundle.bundle.as_deref()),
    );
    names.extend(
        inputs
            .installed
            .values()
            .filter_map(|(_, m)| m.bundle.as_deref()),
    );
    names.extend(inputs.policy.spec.bundles.iter().map(|b| b.name.as_str()));
    names.into_iter().map(|name| assess(inputs, name)).collect()
}

fn state_of<'m>(members: impl Iterator<Item = &'m BundleMembership>) -> Option<BundleState> {
    let mut any = false;
    let mut version: Option<&BundleVersion> = None;
    let mut channel: Option<Channel> = None;
    for m in members {
        any = true;
        version = version.max(m.version.as_ref());
        channel = channel.max(m.channel);
    }
    any.then(|| BundleState {
        version: version.map(ToString::to_string),
        channel: channel.map(|c| c.to_string()),
    })
}

fn assess(inputs: &BundleInputs, name: &str) -> BundleAssessment {
    let default_policy = BundlePolicy::default_for(name);
    let policy = inputs.policy.bundle(name).unwrap_or(&default_policy);
    let items: Vec<&Decided> = inputs
        .decided
        .iter()
        .filter(|d| d.desired_bundle.bundle.as_deref() == Some(name))
        .collect();
    let installed_members = inputs
        .installed
        .values()
        .filter(|(_, m)| m.bundle.as_deref() == Some(name));
    let class = items
        .first()
        .map(|d| d.desired_bundle.class)
        .or_else(|| installed_members.clone().next().map(|(_, m)| m.class))
        .or(policy.class)
        .unwrap_or(Class::Standard);

    // The bundle as it will be: installed CRDs, overwritten by what the plan writes.
    let mut projected: BTreeMap<&str, Projected> = installed_members
        .clone()
        .map(|(crd, m)| {
            (
                crd.name.as_str(),
                Projected {
                    kind: crd.kind.as_str(),
                    version: m.version.as_ref(),
                    channel: m.channel,
                },
            )
        })
        .collect();
    for d in items.iter().filter(|d| d.item.action.writes()) {
        projected.insert(
            d.desired.name.as_str(),
            Projected {
                kind: d.desired.kind.as_str(),
                version: d.desired_bundle.version.as_ref(),
                channel: d.desired_bundle.channel,
            },
        );
    }

    let mut blocking: Vec<Reason> = Vec::new();
    let mut warnings: Vec<Reason> = Vec::new();
    let mut checks: Vec<PreflightCheck> = Vec::new();
    let check = |checks: &mut Vec<PreflightCheck>, check: &str, status, message: String| {
        checks.push(PreflightCheck {
            check: check.to_string(),
            status,
            message: format!("{name}: {message}"),
        });
    };

    // CRDs of kinds upstream removed before the policy minimum (BackendLBPolicy was last in
    // v1.2.1): no source can bring them to the minimum, and crdguard never deletes a CRD, so
    // they are left as they are, named in a warning, and do not count for the minimum.
    let retired: BTreeMap<&str, BundleVersion> = match (&policy.minimum, inputs.identifier) {
        (Some(min), Some(identifier)) => projected
            .iter()
            .filter(|(crd, _)| {
                !items
                    .iter()
                    .any(|d| d.desired.name == **crd && d.item.action.writes())
            })
            .filter_map(|(crd, _)| {
                let last = identifier.last_release_with(name, crd)?;
                (last < *min).then_some((*crd, last))
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    for (crd, last) in &retired {
        warnings.push(Reason::new(
            Code::BundleSkew,
            format!(
                "{crd} was last released in {last}: no release at or above the policy minimum \
                 has it, so it stays as installed (crdguard never deletes a CRD; delete it once \
                 nothing uses it) and does not count for the minimum"
            ),
        ));
    }

    // Versions.
    let versions: Vec<Option<&BundleVersion>> = projected.values().map(|p| p.version).collect();
    let lowest = projected
        .iter()
        .filter(|(crd, _)| !retired.contains_key(*crd))
        .filter_map(|(_, p)| p.version)
        .min();
    let highest = versions.iter().flatten().max().copied();
    let unversioned = versions.iter().filter(|v| v.is_none()).count();
    if projected.is_empty() {
        if policy.minimum.is_some() || !policy.required_kinds.is_empty() {
            let message = "not installed, and the sources do not install it".to_string();
            blocking.push(Reason::new(Code::BelowMinimum, message.clone()));
            check(&mut checks, "bundle-version", CheckStatus::Fail, message);
        }
    } else {
        match (&policy.minimum, lowest) {
            (Some(min), Some(low)) if low < min => {
                let message = format!(
                    "{low} would remain installed, below the policy minimum {min}{}",
                    if policy.upgrade == crate::policy::UpgradeMode::Never {
                        " (the policy says upgrade: never)"
                    } else {
                        ""
                    }
                );
                blocking.push(Reason::new(Code::BelowMinimum, message.clone()));
                check(&mut checks, "bundle-version", CheckStatus::Fail, message);
            }
            (min, _) if unversioned > 0 => {
                // A marker that is there but is no version is a different problem from no
                // marker: say which (each item's reasons name the value).
                let unreadable = installed_members
                    .clone()
                    .map(|(_, m)| m)
                    .chain(items.iter().map(|d| &d.desired_bundle))
                    .filter(|m| m.warnings.iter().any(|w| w.code == Code::BadAnnotation))
                    .count();
                check(
                    &mut checks,
                    "bundle-version",
                    CheckStatus::Warn,
                    format!(
                        "{unversioned} CRD(s) carry no bundle version{}{}",
                        if unreadable > 0 {
                            format!(
                                " ({unreadable} with a version marker that is not a version: \
                                 see bad-annotation in their reasons)"
                            )
                        } else {
                            String::new()
                        },
                        min.as_ref()
                            .map(|m| format!("; cannot verify the minimum {m}"))
                            .unwrap_or_default()
                    ),
                )
            }
            (min, Some(low)) => check(
                &mut checks,
                "bundle-version",
                CheckStatus::Pass,
                match min {
                    Some(min) => format!("{low} meets the minimum {min}"),
                    None => format!("{low} (no minimum in the policy)"),
                },
            ),
            (_, None) => {}
        }
        if let (Some(max), Some(high)) = (&policy.tested_maximum, highest) {
            if high > max {
                let message = format!("{high} is newer than the tested maximum {max}");
                warnings.push(Reason::new(Code::AboveTestedMaximum, message.clone()));
                check(
                    &mut checks,
                    "bundle-tested-maximum",
                    CheckStatus::Warn,
                    message,
                );
            } else {
                check(
                    &mut checks,
                    "bundle-tested-maximum",
                    CheckStatus::Pass,
                    format!("{high} is within the tested maximum {max}"),
                );
            }
        }
        let distinct: BTreeSet<(Option<&BundleVersion>, Option<Channel>)> =
            projected.values().map(|p| (p.version, p.channel)).collect();
        if distinct.len() > 1 {
            let shown: Vec<String> = distinct
                .iter()
                .map(|(v, c)| {
                    format!(
                        "{}{}",
                        v.map_or_else(|| "unversioned".to_string(), ToString::to_string),
                        c.map(|c| format!("/{c}")).unwrap_or_default()
                    )
                })
                .collect();
            let message = format!(
                "CRDs would be at different versions/channels: {}",
                shown.join(", ")
            );
            warnings.push(Reason::new(Code::BundleSkew, message.clone()));
            check(&mut checks, "bundle-skew", CheckStatus::Warn, message);
        }
        if let Some(wanted) = policy.channel {
            let narrower = projected
                .values()
                .filter(|p| p.channel.is_some_and(|c| c < wanted))
                .count();
            if narrower > 0 {
                let message = format!(
                    "the product needs the {wanted} channel; {narrower} CRD(s) would remain narrower"
                );
                blocking.push(Reason::new(Code::ChannelMismatch, message.clone()));
                check(&mut checks, "bundle-channel", CheckStatus::Fail, message);
            } else {
                check(
                    &mut checks,
                    "bundle-channel",
                    CheckStatus::Pass,
                    format!("channel satisfies {wanted}"),
                );
            }
        }
    }
    if !policy.required_kinds.is_empty() {
        let present: BTreeSet<&str> = projected.values().map(|p| p.kind).collect();
        let missing: Vec<&str> = policy
            .required_kinds
            .iter()
            .map(String::as_str)
            .filter(|k| !present.contains(k))
            .collect();
        if missing.is_empty() {
            check(
                &mut checks,
                "required-kinds",
                CheckStatus::Pass,
                format!("all {} required kinds present", policy.required_kinds.len()),
            );
        } else {
            let message = format!(
                "required kind(s) missing after the plan: {}",
                missing.join(", ")
            );
            blocking.push(Reason::new(Code::MissingRequiredKind, message.clone()));
            check(&mut checks, "required-kinds", CheckStatus::Fail, message);
        }
    }
    if let Some(server) = inputs.observed.server_version {
        let writes_cel = items
            .iter()
            .any(|d| d.item.action.writes() && d.desired.uses_cel());
        if writes_cel && server < CEL_MINIMUM_KUBERNETES {
            let message = format!(
                "the CRDs use CEL validation rules, which need Kubernetes {CEL_MINIMUM_KUBERNETES} or newer; the server is {server}"
            );
            blocking.push(Reason::new(Code::KubernetesTooOld, message.clone()));
            check(&mut checks, "bundle-kubernetes", CheckStatus::Fail, message);
        }
        // The release's own minimum (the catalog's, per release and channel): a write the
        // server would reject half-way through the bundle is blocked before it starts.
        let written: BTreeSet<(&BundleVersion, Channel)> = items
            .iter()
            .filter(|d| d.item.action.writes())
            .filter_map(|d| {
                Some((
                    d.desired_bundle.version.as_ref()?,
                    d.desired_bundle.channel?,
                ))
            })
            .collect();
        for (version, channel) in written {
            let Some((minimum, why)) = inputs
                .identifier
                .and_then(|i| i.minimum_kubernetes(name, version, channel))
            else {
                continue;
            };
            if server < minimum {
                let message = format!(
                    "{version} {channel} needs Kubernetes {minimum} or newer ({why}); the server \
                     is {server}. Upgrade the cluster first, or install an older release of the \
                     bundle"
                );
                blocking.push(Reason::new(Code::KubernetesTooOld, message.clone()));
                check(&mut checks, "bundle-kubernetes", CheckStatus::Fail, message);
            } else {
                check(
                    &mut checks,
                    "bundle-kubernetes",
                    CheckStatus::Pass,
                    format!(
                        "{version} {channel} needs Kubernetes {minimum}; the server is {server}"
                    ),
                );
            }
        }
    }

    // SPEC §8: a release newer than the catalog is newer than everything known; the plan
    // says what crdguard cannot check for it.
    if let Some(newest) = inputs.identifier.and_then(|i| i.newest_known(name))
        && let Some(high) = highest.filter(|h| **h > newest)
    {
        let message = format!(
            "{high} is newer than every release crdguard's catalog knows (newest {newest}): it \
             is never downgraded, but its Kubernetes minimum and companions are unknown; update \
             crdguard to check them"
        );
        warnings.push(Reason::new(Code::CatalogStale, message.clone()));
        check(&mut checks, "catalog-stale", CheckStatus::Warn, message);
    }
    let settled = if items.is_empty() {
        None
    } else {
        let channel = projected.values().filter_map(|p| p.channel).max();
        highest.cloned().zip(channel)
    };
    let decision = if !blocking.is_empty() {
        Action::Blocked
    } else {
        aggregate(&items, installed_members.clone().next().is_some())
    };
    let blocking_codes: BTreeSet<Code> = blocking.iter().map(|r| r.code).collect();
    let mut reasons = blocking;
    reasons.extend(warnings);
    // An item reason the bundle already gives (below-minimum) is said once.
    reasons.extend(
        summarize_item_reasons(&items)
            .into_iter()
            .filter(|r| !blocking_codes.contains(&r.code)),
    );
    BundleAssessment {
        plan: BundlePlan {
            name: name.to_string(),
            class: class.as_str(),
            installed: state_of(installed_members.map(|(_, m)| m)),
            desired: state_of(items.iter().map(|d| &d.desired_bundle)),
            decision,
            reasons,
            companions: Vec::new(),
        },
        checks,
        settled,
    }
}

fn aggregate(items: &[&Decided], any_installed: bool) -> Action {
    let has = |a: Action| items.iter().any(|d| d.item.action == a);
    if has(Action::Blocked) {
        Action::Blocked
    } else if has(Action::Conflict) {
        Action::Conflict
    } else if has(Action::Upgrade) || (has(Action::Create) && any_installed) {
        Action::Upgrade
    } else if has(Action::Create) {
        Action::Create
    } else if !items.is_empty() && items.iter().all(|d| d.item.action == Action::Unchanged) {
        Action::Unchanged
    } else {
        Action::Keep
    }
}

/// One reason per distinct item reason code, with a count and the first CRD's message.
fn summarize_item_reasons(items: &[&Decided]) -> Vec<Reason> {
    let mut by_code: BTreeMap<Code, (usize, &str, &str)> = BTreeMap::new();
    for d in items {
        if let Some(reason) = d.item.reasons.first() {
            let entry = by_code.entry(reason.code).or_insert((
                0,
                d.item.crd.as_str(),
                reason.message.as_str(),
            ));
            entry.0 += 1;
        }
    }
    by_code
        .into_iter()
        .map(|(code, (count, crd, message))| {
            let message = if count == 1 {
                format!("{crd}: {message}")
            } else {
                format!("{count} CRDs, e.g. {crd}: {message}")
            };
            Reason::new(code, message)
        })
        .collect()
}
