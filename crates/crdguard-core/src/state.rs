//! Desired state (what the sources ask for) and observed state (what the cluster has).

use std::collections::BTreeMap;

use crate::companion;
use crate::error::InputError;
use crate::load::{Loaded, OtherObject};
use crate::model::Crd;
use crate::normalize::semantically_equal;
use crate::objects::{OBJECTS_ANNOTATION, OBJECTS_INCLUDED, ObjectsObserved, SnapshotObjects};
use crate::version::KubeVersion;

/// The annotation `crdguard snapshot` writes on its List to record the server version.
pub const SERVER_VERSION_ANNOTATION: &str = "crdguard.dev/server-version";

/// The annotation `crdguard snapshot` writes when it knows whether the server serves
/// admissionregistration.k8s.io/v1 ValidatingAdmissionPolicies (`"true"`/`"false"`).
pub const ADMISSION_API_ANNOTATION: &str = "crdguard.dev/admission-api";

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
    /// Companion objects the sources carry (SPEC §1). They tell which companions a source
    /// expects; what crdguard writes is upstream's content from the catalog, never these.
    pub companions: Vec<OtherObject>,
    pub warnings: Vec<InputWarning>,
}

/// Removes the documents of `loaded` that are neither CRDs nor companion objects (SPEC §1: in
/// every command and source kind they are skipped, never an error) and returns one warning that
/// counts them by kind, attributed to `source`. Companions stay in `loaded.others`.
pub fn skip_non_crds(loaded: &mut Loaded, source: &str) -> Option<InputWarning> {
    let others = std::mem::take(&mut loaded.others);
    let (companions, skipped): (Vec<OtherObject>, Vec<OtherObject>) = others
        .into_iter()
        .partition(|o| companion::bundle_of(&o.api_version, &o.kind, &o.name).is_some());
    loaded.others = companions;
    if skipped.is_empty() {
        return None;
    }
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for other in &skipped {
        let kind = if other.kind.is_empty() {
            "object without kind"
        } else {
            other.kind.as_str()
        };
        *by_kind.entry(kind).or_default() += 1;
    }
    let counts: Vec<String> = by_kind
        .iter()
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect();
    Some(InputWarning {
        origin: source.to_string(),
        message: format!(
            "skipped {} object(s) that are neither CRDs nor bundle companions: {} (first: {} at {})",
            skipped.len(),
            counts.join(", "),
            skipped[0].describe(),
            skipped[0].origin
        ),
    })
}

impl DesiredState {
    /// Builds the desired state. Two CRDs of the same name are fine when equal, an error
    /// naming both places when they differ.
    /// Non-CRD documents other than companions must have been skipped ([`skip_non_crds`]);
    /// any left are skipped here with a warning.
    pub fn from_loaded(mut loaded: Loaded) -> Result<Self, InputError> {
        let warnings: Vec<InputWarning> =
            skip_non_crds(&mut loaded, "sources").into_iter().collect();
        let companions = std::mem::take(&mut loaded.others);
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
            companions,
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
    /// Whether the server serves admissionregistration.k8s.io/v1 ValidatingAdmissionPolicies:
    /// known for a live server (discovery), `None` for a snapshot.
    pub admission_served: Option<bool>,
    /// Which cluster this is (SPEC §11): `uid:<kube-system namespace UID>`, or the server URL
    /// and its CA digest where there is no core API. Live only.
    pub cluster_id: Option<String>,
    pub warnings: Vec<InputWarning>,
    /// The custom resources a `crdguard snapshot --objects` holds (SPEC §5 v2).
    pub snapshot_objects: SnapshotObjects,
    /// What reading the stored objects found, by CRD, for the data-aware checks; filled by
    /// the application layer between a first and a final plan (`Plan::object_reads`).
    pub objects: ObjectsObserved,
}

impl ObservedState {
    pub fn empty(source: ClusterSource) -> Self {
        ObservedState {
            source,
            server_version: None,
            server_version_text: None,
            crds: BTreeMap::new(),
            admission: Vec::new(),
            admission_served: None,
            cluster_id: None,
            warnings: Vec::new(),
            snapshot_objects: SnapshotObjects::NotIncluded,
            objects: ObjectsObserved::new(),
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
        state.admission_served = match loaded
            .list_annotations
            .get(ADMISSION_API_ANNOTATION)
            .map(String::as_str)
        {
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => {
                return Err(InputError::new(
                    source_name,
                    format!("{other:?} is neither \"true\" nor \"false\""),
                )
                .field(format!("metadata.annotations.{ADMISSION_API_ANNOTATION}")));
            }
            None => None,
        };
        let objects_included = match loaded
            .list_annotations
            .get(OBJECTS_ANNOTATION)
            .map(String::as_str)
        {
            Some(OBJECTS_INCLUDED) => true,
            None => false,
            Some(other) => {
                return Err(InputError::new(
                    source_name,
                    format!(
                        "{other:?} is not {OBJECTS_INCLUDED:?}, the only value crdguard writes"
                    ),
                )
                .field(format!("metadata.annotations.{OBJECTS_ANNOTATION}")));
            }
        };
        let mut custom_resources = Vec::new();
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
            } else if objects_included {
                custom_resources.push(other);
            } else {
                state.warnings.push(InputWarning {
                    origin: other.origin.to_string(),
                    message: format!(
                        "ignored {}: a snapshot holds CRDs and admission policies (and, from `crdguard snapshot --objects`, custom resources)",
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
        if objects_included {
            state.snapshot_objects =
                SnapshotObjects::Included(state.sort_objects(custom_resources));
        }
        Ok(state)
    }

    /// Files a snapshot's custom resources under their CRD (by group and kind); anything else
    /// is ignored with a warning.
    fn sort_objects(
        &mut self,
        others: Vec<OtherObject>,
    ) -> BTreeMap<String, Vec<serde_json::Value>> {
        let by_kind: BTreeMap<(String, String), String> = self
            .crds
            .values()
            .map(|c| ((c.group.clone(), c.kind.clone()), c.name.clone()))
            .collect();
        let mut objects: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
        for other in others {
            let group = other
                .api_version
                .split('/')
                .next()
                .unwrap_or_default()
                .to_string();
            if let Some(crd) = by_kind.get(&(group, other.kind.clone())) {
                objects.entry(crd.clone()).or_default().push(other.object);
            } else {
                self.warnings.push(InputWarning {
                    origin: other.origin.to_string(),
                    message: format!(
                        "ignored {}: no CRD of the snapshot defines it",
                        other.describe()
                    ),
                });
            }
        }
        objects
    }

    /// ValidatingAdmissionPolicies (not bindings).
    pub fn admission_policies(&self) -> impl Iterator<Item = &OtherObject> {
        self.admission
            .iter()
            .filter(|o| o.kind == "ValidatingAdmissionPolicy")
    }
}

/// A snapshot document that also holds the cluster's custom resources (`snapshot --objects`),
/// marked so offline plans know the objects are all there (SPEC §5 v2).
pub fn snapshot_document_with_objects(
    observed: &ObservedState,
    objects: Vec<serde_json::Value>,
) -> serde_json::Value {
    let mut document = snapshot_document(observed);
    document["metadata"]["annotations"][OBJECTS_ANNOTATION] = OBJECTS_INCLUDED.into();
    if let Some(items) = document["items"].as_array_mut() {
        items.extend(objects);
    }
    document
}

/// The observed state as a snapshot document: a `v1 List` of the CRDs (with status and managed
/// fields, so owners survive) and admission policies, recording the server version.
pub fn snapshot_document(observed: &ObservedState) -> serde_json::Value {
    let mut annotations = serde_json::Map::new();
    if let Some(version) = &observed.server_version_text {
        annotations.insert(SERVER_VERSION_ANNOTATION.into(), version.clone().into());
    }
    if let Some(served) = observed.admission_served {
        annotations.insert(ADMISSION_API_ANNOTATION.into(), served.to_string().into());
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
