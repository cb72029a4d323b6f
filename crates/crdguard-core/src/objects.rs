//! Stored objects for data-aware checks (SPEC §5 v2): which objects a plan needs to read, what
//! reading them found, and the same from a snapshot made with `crdguard snapshot --objects`.
//!
//! Pure. Live reads are the kube adapter's job; the application layer plans once, asks
//! [`Plan::object_reads`](crate::plan::Plan::object_reads), streams the objects of each
//! (CRD, version) through an [`ObjectsCollector`], and plans again with the evidence in the
//! observed state.

use std::collections::BTreeMap;

use serde_json::Value;

use crdguard_schema::{ObjectEvidence, ObjectsCollector};

use crate::model::Crd;
use crate::state::DesiredState;

/// The List annotation a snapshot carries when it holds the custom resources too.
pub const OBJECTS_ANNOTATION: &str = "crdguard.dev/objects";
pub const OBJECTS_INCLUDED: &str = "included";

/// The custom resources a snapshot holds, by CRD name, as listed at each served version.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum SnapshotObjects {
    /// A live cluster, or a snapshot without the `crdguard.dev/objects: included` mark: nothing
    /// is known about objects (never "zero objects").
    #[default]
    NotIncluded,
    Included(BTreeMap<String, Vec<Value>>),
}

/// What reading the objects of one CRD gave.
#[derive(Debug, Clone, PartialEq)]
pub enum CrdObjects {
    /// One evidence per version read.
    Read(Vec<ObjectEvidence>),
    /// They could not be read; the text says why and what would allow it.
    Unreadable(String),
}

/// Object evidence by CRD name; CRDs not in the map were not read.
pub type ObjectsObserved = BTreeMap<String, CrdObjects>;

/// The objects one CRD needs read: once per served version that has findings the objects
/// judge (errors of the comparison, also those ratcheting lowered to warnings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectReads {
    pub crd: String,
    pub versions: Vec<String>,
}

/// The desired `openAPIV3Schema` of `version` of a desired CRD.
pub fn desired_schema<'a>(
    desired: &'a DesiredState,
    crd: &str,
    version: &str,
) -> Option<&'a Value> {
    let crd = desired.crds.iter().find(|c| c.name == crd)?;
    schema_of(crd, version)
}

fn schema_of<'a>(crd: &'a Crd, version: &str) -> Option<&'a Value> {
    crd.object
        .pointer("/spec/versions")?
        .as_array()?
        .iter()
        .find(|v| v.get("name").and_then(Value::as_str) == Some(version))?
        .pointer("/schema/openAPIV3Schema")
}

/// Evidence from a snapshot's objects. Objects are matched to a version by their
/// `apiVersion` (a snapshot lists each CRD at every version it serves); a version the
/// installed CRD did not serve when the snapshot was made is unreadable from it.
pub fn evidence_from_snapshot(
    reads: &[ObjectReads],
    desired: &DesiredState,
    installed: &BTreeMap<String, Crd>,
    objects: &SnapshotObjects,
) -> ObjectsObserved {
    let SnapshotObjects::Included(by_crd) = objects else {
        return ObjectsObserved::new();
    };
    let empty = Vec::new();
    reads
        .iter()
        .map(|read| {
            let stored = by_crd.get(&read.crd).unwrap_or(&empty);
            let Some(crd) = installed.get(&read.crd) else {
                return (read.crd.clone(), CrdObjects::Read(Vec::new()));
            };
            let mut evidence = Vec::new();
            for version in &read.versions {
                if !crd.served_versions().any(|v| v == version) {
                    return (
                        read.crd.clone(),
                        CrdObjects::Unreadable(format!(
                            "the snapshot was made while {version} was not served, so it holds no objects read at {version}"
                        )),
                    );
                }
                let Some(schema) = desired_schema(desired, &read.crd, version) else {
                    continue;
                };
                let api_version = format!("{}/{version}", crd.group);
                let mut collector = ObjectsCollector::new(version, schema);
                for object in stored
                    .iter()
                    .filter(|o| o.get("apiVersion").and_then(Value::as_str) == Some(&api_version))
                {
                    collector.add(object);
                }
                evidence.push(collector.finish());
            }
            (read.crd.clone(), CrdObjects::Read(evidence))
        })
        .collect()
}
