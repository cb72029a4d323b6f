//! `crdguard snapshot`: the live cluster's observed state as a file for offline use; with
//! `--objects`, also every custom resource, for data-aware checks offline (SPEC §5 v2).

use serde_json::Value;

use crdguard_core::state::{ObservedState, snapshot_document, snapshot_document_with_objects};
use crdguard_kube::Cluster;

use crate::error::CommandError;
use crate::settings::LiveSettings;

#[derive(Debug, Clone)]
pub struct SnapshotSettings {
    pub live: LiveSettings,
    /// Every custom resource too (for data-aware checks offline); may hold sensitive data.
    pub objects: bool,
}

/// The snapshot document (`crdguard.io/v1alpha1 Snapshot`), to be written as YAML or JSON.
pub fn run(args: &SnapshotSettings) -> Result<Value, CommandError> {
    let options = crate::session::live_options(&args.live);
    crate::session::runtime()?.block_on(async {
        let cluster = crate::session::connect_live(&options).await?;
        let observed = cluster.observe().await?;
        Ok::<_, CommandError>(if args.objects {
            let objects = custom_resources(&cluster, &observed).await?;
            snapshot_document_with_objects(&observed, objects)
        } else {
            snapshot_document(&observed)
        })
    })
}

/// Every object of every CRD at each version it serves (the API converts to the version
/// asked for, so each served version's view is what a plan for that version checks), without
/// `managedFields`, which are large and say nothing about validity.
async fn custom_resources(
    cluster: &Cluster,
    observed: &ObservedState,
) -> Result<Vec<Value>, CommandError> {
    let mut objects = Vec::new();
    for crd in observed.crds.values() {
        for version in crd.served_versions() {
            cluster
                .for_each_object(crd, version, |object| {
                    let mut object = object.clone();
                    if let Some(metadata) =
                        object.get_mut("metadata").and_then(Value::as_object_mut)
                    {
                        metadata.remove("managedFields");
                    }
                    objects.push(object);
                })
                .await?;
        }
    }
    Ok(objects)
}
