//! Stored objects for the data-aware checks (SPEC §5 v2): after a first plan, the objects of
//! the CRDs whose error findings they can decide are read (live: paged from the API server;
//! offline: from a `crdguard snapshot --objects`) and checked against the desired schema,
//! and the plan is made again with what they showed.

use crdguard_core::objects::{
    CrdObjects, ObjectReads, ObjectsObserved, desired_schema, evidence_from_snapshot,
};
use crdguard_core::state::{ClusterSource, DesiredState, ObservedState};
use crdguard_kube::Cluster;
use crdguard_schema::ObjectsCollector;

use crate::error::CommandError;
use crate::settings::ClusterSettings;

/// Reads what `reads` asks for, from the snapshot or the live cluster of `args`.
pub fn observe_objects(
    args: &ClusterSettings,
    observed: &ObservedState,
    desired: &DesiredState,
    reads: &[ObjectReads],
    progress: &dyn crdguard_kube::Progress,
) -> Result<ObjectsObserved, CommandError> {
    if reads.is_empty() {
        return Ok(ObjectsObserved::new());
    }
    match observed.source {
        ClusterSource::Snapshot => Ok(evidence_from_snapshot(
            reads,
            desired,
            &observed.crds,
            &observed.snapshot_objects,
        )),
        ClusterSource::Live => crate::session::runtime()?.block_on(async {
            let cluster =
                crate::session::connect_live(&crate::session::connect_options(args)).await?;
            read_live(&cluster, observed, desired, reads, progress).await
        }),
    }
}

/// Streams each CRD's objects at each version asked for through the desired schema's
/// validator; a list the server refuses (403, 404) leaves that CRD undecided, with the reason.
pub async fn read_live(
    cluster: &Cluster,
    observed: &ObservedState,
    desired: &DesiredState,
    reads: &[ObjectReads],
    progress: &dyn crdguard_kube::Progress,
) -> Result<ObjectsObserved, CommandError> {
    let mut found = ObjectsObserved::new();
    let lists: usize = reads.iter().map(|r| r.versions.len()).sum();
    progress.start("checking stored objects", lists as u64);
    let outcome = read_each(cluster, observed, desired, reads, progress, &mut found).await;
    progress.finish();
    outcome.map(|()| found)
}

/// One paged list per CRD and version asked for, each counted on the progress bar.
async fn read_each(
    cluster: &Cluster,
    observed: &ObservedState,
    desired: &DesiredState,
    reads: &[ObjectReads],
    progress: &dyn crdguard_kube::Progress,
    found: &mut ObjectsObserved,
) -> Result<(), CommandError> {
    for read in reads {
        let Some(installed) = observed.crds.get(&read.crd) else {
            continue;
        };
        let mut evidence = Vec::new();
        let mut unreadable = None;
        for version in &read.versions {
            let Some(schema) = desired_schema(desired, &read.crd, version) else {
                continue;
            };
            if !installed.served_versions().any(|v| v == version) {
                unreadable = Some(format!("{version} is not served by the installed CRD"));
                break;
            }
            let mut collector = ObjectsCollector::new(version, schema);
            let listed = cluster
                .for_each_object(installed, version, |object| collector.add(object))
                .await;
            progress.advance(1);
            match listed {
                Ok(_) => evidence.push(collector.finish()),
                Err(e) if matches!(e.code(), Some(403 | 404)) => {
                    unreadable = Some(format!(
                        "listing {} at {version} was refused ({e}); grant `list` on {}.{}, or plan from a `crdguard snapshot --objects` made by someone who can",
                        read.crd, installed.plural, installed.group
                    ));
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let objects = match unreadable {
            Some(why) => CrdObjects::Unreadable(why),
            None => CrdObjects::Read(evidence),
        };
        found.insert(read.crd.clone(), objects);
    }
    Ok(())
}
