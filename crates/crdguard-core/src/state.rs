//! Desired state (what the sources ask for) and observed state (what the cluster has).

use std::collections::BTreeMap;

use crate::error::InputError;
use crate::load::{Loaded, OtherObject};
use crate::model::Crd;
use crate::normalize::semantically_equal;
use crate::version::KubeVersion;

/// The annotation `crdguard snapshot` writes on its List to record the server version.
pub const SERVER_VERSION_ANNOTATION: &str = "crdguard.dev/server-version";

/// A warning about input that was accepted (skipped documents, odd annotations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputWarning {
    pub origin: String,
    pub message: String,
}

/// The CRDs the sources ask for, by name (sorted), without duplicates.
#[derive(Debug, Clone, Default)]
pub struct DesiredState {
    pub crds: Vec<Crd>,
    pub warnings: Vec<InputWarning>,
}

/// What to do with documents that are not CRDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonCrdDocuments {
    /// Explicit CRD files: a stray object is a mistake worth stopping for.
    Reject,
    /// Chart `crds/` directories and rendered templates: skipped with a warning (SPEC §3).
    SkipWithWarning,
}

/// Removes the non-CRD documents of `loaded`: an error for [`NonCrdDocuments::Reject`],
/// warnings for [`NonCrdDocuments::SkipWithWarning`].
pub fn take_non_crds(
    loaded: &mut Loaded,
    non_crd: NonCrdDocuments,
) -> Result<Vec<InputWarning>, InputError> {
    let others = std::mem::take(&mut loaded.others);
    match (non_crd, others.first()) {
        (NonCrdDocuments::Reject, Some(other)) => Err(InputError::at_origin(
            &other.origin,
            format!(
                "{} is not a CustomResourceDefinition (apiVersion {:?}); pass only CRD files, \
                 a directory, or a chart",
                other.describe(),
                other.api_version
            ),
        )
        .field("kind")),
        _ => Ok(others
            .into_iter()
            .map(|other| InputWarning {
                origin: other.origin.to_string(),
                message: format!(
                    "skipped {}: not a CustomResourceDefinition",
                    other.describe()
                ),
            })
            .collect()),
    }
}

impl DesiredState {
    /// Builds the desired state. Two CRDs of the same name are fine when equal, an error
    /// naming both places when they differ.
    pub fn from_loaded(mut loaded: Loaded, non_crd: NonCrdDocuments) -> Result<Self, InputError> {
        let warnings = take_non_crds(&mut loaded, non_crd)?;
        let mut by_name: BTreeMap<String, Crd> = BTreeMap::new();
        for crd in loaded.crds {
            match by_name.get(&crd.name) {
                Some(first)
                    if semantically_equal(first, &crd) && semantically_equal(&crd, first) => {}
                Some(first) => {
                    return Err(InputError::at_origin(
                        &crd.origin,
                        format!(
                            "CRD {} is defined twice with different content (first at {})",
                            crd.name, first.origin
                        ),
                    )
                    .field("metadata.name"));
                }
                None => {
                    by_name.insert(crd.name.clone(), crd);
                }
            }
        }
        Ok(DesiredState {
            crds: by_name.into_values().collect(),
            warnings,
        })
    }

    pub fn get(&self, name: &str) -> Option<&Crd> {
        self.crds
            .binary_search_by(|c| c.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.crds[i])
    }
}

/// Where the observed state came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterSource {
    Live,
    Snapshot,
}

impl ClusterSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterSource::Live => "live",
            ClusterSource::Snapshot => "snapshot",
        }
    }
}

/// The cluster as observed: CRDs by name, server version, admission policies.
#[derive(Debug, Clone)]
pub struct ObservedState {
    pub source: ClusterSource,
    pub server_version: Option<KubeVersion>,
    /// As reported (`v1.33.1-gke.100`), for display.
    pub server_version_text: Option<String>,
    pub crds: BTreeMap<String, Crd>,
    /// ValidatingAdmissionPolicies and their bindings.
    pub admission: Vec<OtherObject>,
    pub warnings: Vec<InputWarning>,
}

impl ObservedState {
    pub fn empty(source: ClusterSource) -> Self {
        ObservedState {
            source,
            server_version: None,
            server_version_text: None,
            crds: BTreeMap::new(),
            admission: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Builds the observed state from a snapshot (a List or stream of CRDs with status,
    /// optionally admission policies). `server_version` (from `--server-version`) wins over the
    /// version recorded in the snapshot.
    pub fn from_snapshot(
        loaded: Loaded,
        server_version: Option<&str>,
        source_name: &str,
    ) -> Result<Self, InputError> {
        // An empty file, or one with neither a List nor a CRD (a Deployment, a policy file given
        // by mistake), is not a cluster: taking it as an empty one would plan creates over CRDs
        // that exist. An explicit empty List is an empty cluster.
        if loaded.crds.is_empty() && loaded.lists == 0 {
            let (found, origin) = match loaded.others.first() {
                Some(other) => (
                    format!("it holds {}", other.describe()),
                    Some(&other.origin),
                ),
                None => ("it is empty".to_string(), None),
            };
            let error = match origin {
                Some(origin) => InputError::at_origin(origin, String::new()),
                None => InputError::new(source_name, String::new()),
            };
            return Err(InputError {
                message: format!(
                    "not a cluster snapshot: {found}, and neither a List nor any \
                     CustomResourceDefinition. Make one with `crdguard snapshot > cluster.yaml` \
                     or `kubectl get crd -o yaml > cluster.yaml`; an empty cluster is \
                     `{{apiVersion: v1, kind: List, items: []}}`"
                ),
                ..error
            });
        }
        let mut state = ObservedState::empty(ClusterSource::Snapshot);
        let recorded = loaded
            .list_annotations
            .get(SERVER_VERSION_ANNOTATION)
            .map(String::as_str);
        if let Some(text) = server_version.or(recorded) {
            let parsed: KubeVersion = text.parse().map_err(|e: String| {
                let err = InputError::new(source_name, e);
                if server_version.is_some() {
                    InputError {
                        source: "--server-version".into(),
                        ..err
                    }
                } else {
                    err.field(format!("metadata.annotations.{SERVER_VERSION_ANNOTATION}"))
                }
            })?;
            state.server_version = Some(parsed);
            state.server_version_text = Some(text.to_string());
        }
        for other in loaded.others {
            if other
                .api_version
                .starts_with("admissionregistration.k8s.io/")
                && matches!(
                    other.kind.as_str(),
                    "ValidatingAdmissionPolicy" | "ValidatingAdmissionPolicyBinding"
                )
            {
                state.admission.push(other);
            } else {
                state.warnings.push(InputWarning {
                    origin: other.origin.to_string(),
                    message: format!(
                        "ignored {}: a snapshot holds CRDs and admission policies",
                        other.describe()
                    ),
                });
            }
        }
        for crd in loaded.crds {
            if let Some(first) = state.crds.get(&crd.name) {
                return Err(InputError::at_origin(
                    &crd.origin,
                    format!(
                        "CRD {} appears twice in the snapshot (first at {})",
                        crd.name, first.origin
                    ),
                )
                .field("metadata.name"));
            }
            state.crds.insert(crd.name.clone(), crd);
        }
        Ok(state)
    }

    /// ValidatingAdmissionPolicies (not bindings).
    pub fn admission_policies(&self) -> impl Iterator<Item = &OtherObject> {
        self.admission
            .iter()
            .filter(|o| o.kind == "ValidatingAdmissionPolicy")
    }
}

/// The observed state as a snapshot document: a `v1 List` of the CRDs (with status and managed
/// fields, so owners survive) and admission policies, recording the server version.
pub fn snapshot_document(observed: &ObservedState) -> serde_json::Value {
    let mut annotations = serde_json::Map::new();
    if let Some(version) = &observed.server_version_text {
        annotations.insert(SERVER_VERSION_ANNOTATION.into(), version.clone().into());
    }
    let items: Vec<serde_json::Value> = observed
        .crds
        .values()
        .map(|c| c.object.clone())
        .chain(observed.admission.iter().map(|o| o.object.clone()))
        .collect();
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "List",
        "metadata": { "annotations": annotations },
        "items": items,
    })
}
