//! Protecting objects from Helm's upgrade pruning (SPEC §6 v2).
//!
//! On upgrade Helm deletes every object of the release's previous manifest that the new
//! manifest lacks, unless the live object carries `helm.sh/resource-policy: keep` (Helm reads
//! the live object's annotations before it deletes). crdguard's post-renderer keeps CRDs out
//! of every manifest it renders, so a release first installed by plain helm would lose its CRDs,
//! and every custom resource with them, on its first `crdguard install`. This module writes the
//! annotation, conditioned on the resourceVersion just read.

use serde_json::{Value, json};

use crdguard_core::post_render::ManagedObject;

use crdguard_core::owner::FIELD_MANAGER;
use kube::core::Request;
use kube::core::params::{GetParams, Patch, PatchParams};

use crate::{CRD_PATH, Cluster, ClusterError};

/// The annotation Helm honours, and its value.
pub const RESOURCE_POLICY: &str = "helm.sh/resource-policy";
pub const KEEP: &str = "keep";

/// Re-reads after a 409 (someone else changed the object between our read and our write).
const CONFLICT_RETRIES: usize = 3;

/// What protecting one object came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepOutcome {
    /// Not in the cluster: Helm has nothing to delete.
    Absent,
    /// It already carries `helm.sh/resource-policy: keep`.
    AlreadyKept,
    /// crdguard wrote the annotation (or, in a dry run, the server accepted writing it).
    Annotated,
}

/// The API collection of an object the post-renderer manages; `None` for a kind it does not
/// know.
fn collection_path(object: &ManagedObject) -> Option<String> {
    let collection = match (object.api_version.as_str(), object.kind.as_str()) {
        (v, "CustomResourceDefinition") if v.starts_with("apiextensions.k8s.io/") => {
            CRD_PATH.to_string()
        }
        (v, "ValidatingAdmissionPolicy") if v.starts_with("admissionregistration.k8s.io/") => {
            format!("/apis/{v}/validatingadmissionpolicies")
        }
        (v, "ValidatingAdmissionPolicyBinding")
            if v.starts_with("admissionregistration.k8s.io/") =>
        {
            format!("/apis/{v}/validatingadmissionpolicybindings")
        }
        _ => return None,
    };
    Some(collection)
}

impl Cluster {
    /// Makes sure Helm will not delete `object`: reads it, and when it exists without the keep
    /// policy, merge-patches the annotation with the resourceVersion just read as precondition
    /// (a 409 re-reads and tries again). `dry_run` sends the patch as a server-side dry run, so
    /// a missing permission shows before anything is written.
    pub async fn keep_from_helm(
        &self,
        object: &ManagedObject,
        dry_run: bool,
    ) -> Result<KeepOutcome, ClusterError> {
        let reference = object.reference();
        let collection = collection_path(object).ok_or_else(|| ClusterError::Other {
            operation: format!("protect {reference}"),
            message: format!(
                "crdguard does not know the API path of {}",
                object.api_version
            ),
        })?;
        let collection = Request::new(collection);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let read = collection.get(&object.name, &GetParams::default());
            let current = match self.send(&format!("read {reference}"), read).await {
                Ok(current) => current,
                Err(e) if e.code() == Some(404) => return Ok(KeepOutcome::Absent),
                Err(e) => return Err(e),
            };
            let annotation = current
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(RESOURCE_POLICY))
                .and_then(Value::as_str);
            if annotation == Some(KEEP) {
                return Ok(KeepOutcome::AlreadyKept);
            }
            let version = current
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let patch = json!({
                "metadata": {
                    "resourceVersion": version,
                    "annotations": { RESOURCE_POLICY: KEEP },
                }
            });
            let params = PatchParams {
                dry_run,
                field_manager: Some(FIELD_MANAGER.to_string()),
                ..Default::default()
            };
            let write = collection.patch(&object.name, &params, &Patch::Merge(&patch));
            match self
                .send(
                    &format!("annotate {reference} {RESOURCE_POLICY}={KEEP}"),
                    write,
                )
                .await
            {
                Ok(_) => return Ok(KeepOutcome::Annotated),
                Err(e) if e.code() == Some(409) && attempt <= CONFLICT_RETRIES => continue,
                Err(e) => return Err(e),
            }
        }
    }
}
