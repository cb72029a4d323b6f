//! Inventory of the observed cluster (`crdguard status`): bundles, versions, channels, owners,
//! skew and stored versions.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::bundle::Classifier;
use crate::identify::{Identifier, identify_installed};
use crate::owner;
use crate::plan::{ClusterInfo, PLAN_API_VERSION, VersionRange};
use crate::policy::Policy;
use crate::state::ObservedState;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub cluster: ClusterInfo,
    pub bundles: Vec<BundleStatus>,
    pub crds: Vec<CrdStatus>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleStatus {
    pub name: String,
    pub class: &'static str,
    /// Distinct versions present, oldest first (`unversioned` when a CRD has none).
    pub versions: Vec<String>,
    pub channels: Vec<String>,
    pub crds: usize,
    pub skew: bool,
    pub owners: Vec<String>,
    /// When every CRD's content matches the same run of releases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_range: Option<VersionRange>,
    /// `digest` when any CRD was identified by its content, else `annotation`.
    pub identified_by: &'static str,
    /// The bundle's companion objects (SPEC §9 v2): upstream's, a modified copy, or absent.
    pub companions: Vec<CompanionStatus>,
    /// What products recorded on the bundle's CRDs (SPEC §12), one entry per product.
    pub requirements: Vec<crate::requirements::Requirement>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompanionStatus {
    /// `Kind/name`.
    pub object: String,
    /// `upstream` (content of a known release), `modified` (same name, other content: a
    /// product's variant or an edit), or `absent`.
    pub state: &'static str,
    /// For upstream content: the releases holding it (`v1.6.0/standard`, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub releases: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// For an installed admission policy: the writes that would take the bundle backwards and
    /// that it lets through, stops, or cannot be evaluated for (SPEC §9 v2). Filled by the
    /// application layer, which evaluates the policy; empty when it was not probed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lets_through: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stops: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub undecided: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrdStatus {
    pub name: String,
    pub bundle: Option<String>,
    pub class: &'static str,
    pub version: Option<String>,
    pub channel: Option<String>,
    /// When the content matches several releases: `version` is the newest of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_range: Option<VersionRange>,
    /// `annotation` or `digest` (SPEC §3); absent for CRDs outside any bundle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identified_by: Option<&'static str>,
    pub served_versions: Vec<String>,
    pub storage_version: Option<String>,
    pub stored_versions: Vec<String>,
    pub owner: Option<String>,
    /// Stored versions that are no longer served: objects there need a migration.
    pub unserved_stored_versions: Vec<String>,
    /// How the version was established when not from the annotations alone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<crate::Reason>,
}

fn companion_status(
    observed: &ObservedState,
    bundle: &str,
    identifier: Option<&dyn Identifier>,
) -> Vec<CompanionStatus> {
    crate::companion::known_for(bundle)
        .into_iter()
        .map(|(kind, name)| {
            let object = crate::companion::reference(kind.kind, name);
            let Some(installed) = observed
                .admission
                .iter()
                .find(|o| o.kind == kind.kind && o.name == name)
            else {
                return CompanionStatus {
                    object,
                    state: "absent",
                    releases: Vec::new(),
                    owner: None,
                    lets_through: Vec::new(),
                    stops: Vec::new(),
                    undecided: Vec::new(),
                };
            };
            let releases: Vec<String> = identifier
                .map(|i| i.companion_releases(bundle, kind.kind, name, &installed.object))
                .unwrap_or_default()
                .into_iter()
                .map(|(v, c)| format!("{v}/{c}"))
                .collect();
            let owner = installed
                .object
                .pointer("/metadata/annotations/meta.helm.sh~1release-name")
                .and_then(serde_json::Value::as_str)
                .map(|release| format!("helm release {release}"));
            CompanionStatus {
                object,
                state: if releases.is_empty() {
                    "modified"
                } else {
                    "upstream"
                },
                releases,
                owner,
                lets_through: Vec::new(),
                stops: Vec::new(),
                undecided: Vec::new(),
            }
        })
        .collect()
}

fn identified_by(membership: &crate::BundleMembership) -> Option<&'static str> {
    membership.bundle.as_ref()?;
    let by_content = membership.warnings.iter().any(|w| {
        matches!(
            w.code,
            crate::Code::IdentifiedByDigest | crate::Code::AnnotationMismatch
        )
    });
    Some(if by_content { "digest" } else { "annotation" })
}

pub fn status(
    observed: &ObservedState,
    policy: &Policy,
    identifier: Option<&dyn Identifier>,
) -> Status {
    let classifier = Classifier::new(policy);
    let mut crds = Vec::with_capacity(observed.crds.len());
    let mut bundles: BTreeMap<String, (BundleStatus, BTreeSet<Option<String>>)> = BTreeMap::new();
    for (crd, membership) in identify_installed(
        observed.crds.values(),
        |crd| classifier.classify(crd),
        identifier,
    ) {
        let owner = owner::primary_owner(crd).map(|o| o.to_string());
        let served: Vec<String> = crd.served_versions().map(str::to_string).collect();
        let status = CrdStatus {
            name: crd.name.clone(),
            bundle: membership.bundle.clone(),
            class: membership.class.as_str(),
            version: membership.version.as_ref().map(ToString::to_string),
            channel: membership.channel.map(|c| c.to_string()),
            version_range: membership.range.as_ref().map(VersionRange::from),
            identified_by: identified_by(&membership),
            unserved_stored_versions: crd
                .stored_versions
                .iter()
                .filter(|v| !served.contains(v))
                .cloned()
                .collect(),
            served_versions: served,
            storage_version: crd.storage_version().map(str::to_string),
            stored_versions: crd.stored_versions.clone(),
            owner: owner.clone(),
            notes: membership.warnings.clone(),
        };
        if let Some(name) = &membership.bundle {
            let (entry, versions) = bundles.entry(name.clone()).or_insert_with(|| {
                (
                    BundleStatus {
                        name: name.clone(),
                        class: membership.class.as_str(),
                        versions: Vec::new(),
                        channels: Vec::new(),
                        crds: 0,
                        skew: false,
                        owners: Vec::new(),
                        version_range: status.version_range.clone(),
                        identified_by: "annotation",
                        companions: companion_status(observed, name, identifier),
                        requirements: Vec::new(),
                    },
                    BTreeSet::new(),
                )
            });
            entry.crds += 1;
            if entry.version_range != status.version_range {
                entry.version_range = None;
            }
            if status.identified_by == Some("digest") {
                entry.identified_by = "digest";
            }
            versions.insert(status.version.clone());
            if let Some(channel) = &status.channel
                && !entry.channels.contains(channel)
            {
                entry.channels.push(channel.clone());
            }
            if let Some(owner) = &owner
                && !entry.owners.contains(owner)
            {
                entry.owners.push(owner.clone());
            }
            // Unreadable annotations are named by plan's preflight; status shows what it can.
            let (recorded, _) = crate::requirements::of_bundle([crd]);
            for requirement in recorded {
                match entry
                    .requirements
                    .iter_mut()
                    .find(|r| r.product == requirement.product)
                {
                    Some(kept) if kept.minimum >= requirement.minimum => {}
                    Some(kept) => *kept = requirement,
                    None => entry.requirements.push(requirement),
                }
            }
        }
        crds.push(status);
    }
    let bundles = bundles
        .into_values()
        .map(|(mut b, versions)| {
            let mut parsed: Vec<(Option<crate::BundleVersion>, String)> = versions
                .into_iter()
                .map(|v| match v {
                    Some(text) => (text.parse().ok(), text),
                    None => (None, "unversioned".to_string()),
                })
                .collect();
            parsed.sort();
            b.versions = parsed.into_iter().map(|(_, t)| t).collect();
            b.channels.sort();
            b.requirements.sort_by(|x, y| x.product.cmp(&y.product));
            b.skew = b.versions.len() > 1 || b.channels.len() > 1;
            b
        })
        .collect();
    Status {
        api_version: PLAN_API_VERSION,
        kind: "Status",
        cluster: ClusterInfo {
            source: observed.source.as_str(),
            server_version: observed.server_version_text.clone(),
            id: None,
        },
        bundles,
        crds,
    }
}
