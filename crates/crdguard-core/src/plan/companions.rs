//! Companion objects as items of their bundle (SPEC §1): created if absent, upgraded with the
//! bundle, never lowered, never deleted; what is written is upstream's content for the release
//! and channel the bundle settles at, never a product's modified copy.

use serde_json::Value;

use super::report::*;
use crate::companion::{self, CompanionObject};
use crate::identify::Identifier;
use crate::model::Channel;
use crate::state::{ClusterSource, ObservedState};
use crate::version::BundleVersion;

pub(crate) struct CompanionInputs<'a> {
    pub bundle: &'a str,
    pub version: &'a BundleVersion,
    pub channel: Channel,
    pub observed: &'a ObservedState,
    pub identifier: Option<&'a dyn Identifier>,
}

pub(crate) struct PlannedCompanions {
    pub items: Vec<ItemPlan>,
    pub warnings: Vec<PlanWarning>,
}

pub(crate) fn plan_companions(inputs: &CompanionInputs) -> PlannedCompanions {
    let mut planned = PlannedCompanions {
        items: Vec::new(),
        warnings: Vec::new(),
    };
    let Some(identifier) = inputs.identifier else {
        return planned;
    };
    let wanted = identifier.companions(inputs.bundle, inputs.version, inputs.channel);
    if wanted.is_empty() {
        return planned;
    }
    let minimum =
        identifier.companions_minimum_kubernetes(inputs.bundle, inputs.version, inputs.channel);
    let release = format!("{} {}/{}", inputs.bundle, inputs.version, inputs.channel);
    for companion in wanted {
        let installed = inputs
            .observed
            .admission
            .iter()
            .find(|o| o.kind == companion.kind && o.name == companion.name);
        let decision = match installed {
            None => match served(inputs.observed, minimum) {
                Served::No(why) => {
                    planned.warnings.push(PlanWarning {
                        source: companion.reference(),
                        message: format!(
                            "{release} ships {}, but {why}; it is not created (the bundle's CRDs \
                             are still planned)",
                            companion.reference()
                        ),
                    });
                    continue;
                }
                Served::Unknown(why) => Decision::new(
                    Action::Create,
                    Code::Absent,
                    format!(
                        "not installed; upstream's copy of {release} is created after the \
                         bundle's CRDs ({why})"
                    ),
                ),
                Served::Yes => Decision::new(
                    Action::Create,
                    Code::Absent,
                    format!(
                        "not installed; upstream's copy of {release} is created after the \
                         bundle's CRDs"
                    ),
                ),
            },
            Some(object) => {
                let mut decision = decide_installed(inputs, identifier, &companion, &object.object);
                if decision.action.writes() {
                    decision.reasons.extend(person_takeover(&object.object));
                }
                decision
            }
        };
        planned.items.push(item(
            inputs,
            companion,
            installed.map(|o| &o.object),
            decision,
        ));
    }
    planned
}

struct Decision {
    action: Action,
    reasons: Vec<Reason>,
    installed: Option<(BundleVersion, Channel)>,
}

impl Decision {
    fn new(action: Action, code: Code, message: String) -> Self {
        Decision {
            action,
            reasons: vec![Reason::new(code, message)],
            installed: None,
        }
    }
}

fn decide_installed(
    inputs: &CompanionInputs,
    identifier: &dyn Identifier,
    wanted: &CompanionObject,
    installed: &Value,
) -> Decision {
    let reference = wanted.reference();
    let releases =
        identifier.companion_releases(inputs.bundle, &wanted.kind, &wanted.name, installed);
    // The newest release holding the installed content; within it, the bundle's channel when
    // the content is that channel's too (the same policy often ships in both), else the
    // narrowest.
    let newest_version = releases.iter().map(|(v, _)| v).max();
    let newest = newest_version.and_then(|version| {
        let at = || releases.iter().filter(|(v, _)| v == version);
        at().find(|(_, c)| *c == inputs.channel)
            .or_else(|| at().min_by_key(|(_, c)| *c))
            .cloned()
    });
    let same_content =
        companion::canonical_content(installed) == companion::canonical_content(&wanted.object);
    let mut decision = match &newest {
        _ if same_content => Decision::new(
            Action::Unchanged,
            Code::Identical,
            format!(
                "installed content is upstream's for {} {}/{}",
                inputs.bundle, inputs.version, inputs.channel
            ),
        ),
        None => Decision::new(
            Action::Keep,
            Code::CompanionModified,
            format!(
                "{reference} is installed with content no {} release has (a product's modified \
                 copy, as some charts render); crdguard leaves it. To replace it with upstream's, \
                 delete it (`kubectl delete {} {}`) and run crdguard again",
                inputs.bundle,
                wanted.kind.to_lowercase(),
                wanted.name
            ),
        ),
        Some((version, _)) if version > inputs.version => Decision::new(
            Action::Keep,
            Code::NewerInstalled,
            format!(
                "installed content is upstream's for {version}, newer than {}; never lowered",
                inputs.version
            ),
        ),
        Some((version, channel)) if version == inputs.version && *channel > inputs.channel => {
            Decision::new(
                Action::Keep,
                Code::WiderChannelInstalled,
                format!(
                    "installed content is upstream's for {version}/{channel}, wider than \
                     {}; kept",
                    inputs.channel
                ),
            )
        }
        Some((version, channel)) => Decision::new(
            Action::Upgrade,
            Code::OlderInstalled,
            format!(
                "installed content is upstream's for {version}/{channel}; upgraded with the \
                 bundle to {}/{}",
                inputs.version, inputs.channel
            ),
        ),
    };
    decision.installed = newest;
    decision
}

fn item(
    inputs: &CompanionInputs,
    companion: CompanionObject,
    installed: Option<&Value>,
    decision: Decision,
) -> ItemPlan {
    ItemPlan {
        crd: companion.reference(),
        kind: companion.kind.clone(),
        bundle: Some(inputs.bundle.to_string()),
        class: crate::model::Class::Standard.as_str(),
        action: decision.action,
        installed: installed.map(|object| InstalledState {
            version: decision.installed.as_ref().map(|(v, _)| v.to_string()),
            channel: decision.installed.as_ref().map(|(_, c)| c.to_string()),
            version_range: None,
            stored_versions: Vec::new(),
            owner: helm_owner(object),
        }),
        desired: BundleState {
            version: Some(inputs.version.to_string()),
            channel: Some(inputs.channel.to_string()),
        },
        reasons: decision.reasons,
        findings: Vec::new(),
        objects: None,
        step: Step::None,
        observed_resource_version: None,
        companion: decision.action.writes().then_some(companion),
        rule_rows: Vec::new(),
    }
}

/// A companion only a person's kubectl wrote (Gateway API installed the way upstream
/// documents, `kubectl apply --server-side`) is taken over by the upgrade, as its CRDs are
/// (SPEC §2 v2, Ownership): forcing, shown. A Helm release or another manager keeps it, and the
/// write then meets their claim as a conflict.
fn person_takeover(installed: &Value) -> Option<Reason> {
    let others = crate::owner::other_spec_managers(installed);
    let first = others.first()?;
    (helm_owner(installed).is_none() && others.iter().all(crate::owner::Owner::is_person)).then(
        || {
            Reason::new(
                Code::OwnershipTaken,
                format!(
                    "taking over from {first} (a person's kubectl wrote it last; a standard \
                     bundle upgrade takes it over)"
                ),
            )
        },
    )
}

fn helm_owner(object: &Value) -> Option<String> {
    let annotations = object.pointer("/metadata/annotations")?;
    let name = annotations.get("meta.helm.sh/release-name")?.as_str()?;
    let namespace = annotations
        .get("meta.helm.sh/release-namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    Some(format!("helm release {namespace}/{name}"))
}

enum Served {
    Yes,
    No(String),
    Unknown(String),
}

/// Whether the server serves the companion API: what a live server's discovery said, else
/// what its version implies.
fn served(observed: &ObservedState, minimum: Option<crate::version::KubeVersion>) -> Served {
    match observed.admission_served {
        Some(true) => return Served::Yes,
        Some(false) => {
            return Served::No(
                "the server does not serve admissionregistration.k8s.io/v1 \
                 ValidatingAdmissionPolicies"
                    .to_string(),
            );
        }
        None => {}
    }
    match (observed.server_version, minimum) {
        (Some(server), Some(minimum)) if server < minimum => Served::No(format!(
            "it needs Kubernetes {minimum} or newer and the server is {server}"
        )),
        (Some(_), _) => Served::Yes,
        (None, _) if observed.source == ClusterSource::Snapshot => Served::Unknown(
            "the snapshot does not record the server version; `apply` checks the live server"
                .to_string(),
        ),
        (None, _) => Served::Unknown("server version unknown".to_string()),
    }
}
