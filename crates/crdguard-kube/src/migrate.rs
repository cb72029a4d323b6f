//! Storage-version migration (SPEC §7): when a new CRD drops a version that is still listed in
//! `status.storedVersions`, objects are rewritten in the new storage version first, then the
//! stale versions are removed from `storedVersions` through the status subresource.
//!
//! Every step is idempotent, so an interrupted migration is resumed by running it again:
//! 1. if needed, apply a bridge CRD (the desired CRD plus the dropped versions, still served)
//!    so that the storage version is the new one while old objects can still be read;
//! 2. rewrite every object (paged list, no-op update, retried on conflict);
//! 3. count the objects again: the count must not have dropped;
//! 4. patch `status.storedVersions`.

use std::time::Duration;

use serde_json::{Value, json};

use crdguard_core::Crd;

use crate::apply::{ApplyOptions, Precondition, apply_body, current_metadata_matches};
use kube::core::Request;
use kube::core::params::{GetParams, Patch, PatchParams, PostParams};

use crate::request::json_body;
use crate::{CRD_PATH, Cluster, ClusterError};

const CONFLICT_RETRIES: usize = 5;

/// Progress callbacks for long work (a bar and lines on a terminal, silent in JSON mode).
pub trait Progress: Send + Sync {
    /// A line about what is happening.
    fn message(&self, text: &str);
    /// Counted work begins: `total` units, described by `what` (`applying CRDs`).
    fn start(&self, _what: &str, _total: u64) {}
    /// `n` more units of the counted work are done.
    fn advance(&self, _n: u64) {}
    /// The counted work is over (done, or stopped).
    fn finish(&self) {}
}

pub use crdguard_core::plan::MigrationResult as MigrationReport;

/// A finished migration and the CRD's `metadata` after crdguard's last write to it, so the
/// write that follows is conditioned on that and not on what was read before the migration.
#[derive(Debug, Clone)]
pub struct Migrated {
    pub report: MigrationReport,
    pub metadata: Option<Value>,
}

impl Cluster {
    /// Migrates the objects of `installed` off the stored versions in `dropped`, into the storage
    /// version of `desired` (for `crdguard migrate`, `desired` is the installed CRD itself).
    pub async fn migrate_storage(
        &self,
        installed: &Crd,
        desired: &Crd,
        dropped: &[String],
        options: ApplyOptions,
        timeout: Duration,
        progress: &dyn Progress,
    ) -> Result<Migrated, ClusterError> {
        let target = desired
            .storage_version()
            .ok_or_else(|| ClusterError::Other {
                operation: format!("migrate {}", desired.name),
                message: "the desired CRD has no storage version".into(),
            })?
            .to_string();
        let dropped: Vec<String> = dropped.to_vec();
        let mut report = MigrationReport {
            crd: desired.name.clone(),
            storage_version: target.clone(),
            removed_stored_versions: dropped.clone(),
            ..MigrationReport::default()
        };
        let mut metadata = installed.object.get("metadata").cloned();
        if dropped.is_empty() {
            return Ok(Migrated { report, metadata });
        }
        // Step 1: the bridge CRD, so objects can be read in every version and written in target.
        let storage_ok = installed.storage_version() == Some(target.as_str())
            && installed.served_versions().any(|v| v == target);
        if !storage_ok {
            progress.message(&format!(
                "{}: switching storage to {target} while still serving {}",
                desired.name,
                dropped.join(", ")
            ));
            let bridge = bridge_body(installed, desired);
            let precondition = Precondition::for_object(Some(&installed.object));
            let written = self
                .apply_one(&desired.name, &bridge, options, &precondition)
                .await?;
            metadata = written.get("metadata").cloned();
            let names = std::iter::once(desired.name.clone()).collect();
            let waited = self.wait_established(&names, timeout, |_| {}).await?;
            if !waited.pending.is_empty() {
                return Err(ClusterError::Timeout {
                    what: format!("{} to be established", desired.name),
                    seconds: timeout.as_secs(),
                });
            }
        }
        // Step 2 and 3: rewrite every object, then count again.
        let collection = collection_path(desired, &target);
        let objects = self
            .list_all(
                &format!("list {}", desired.name),
                &collection,
                &format!("{}/{target}", desired.group),
                &desired.kind,
            )
            .await?;
        report.objects_before = objects.len();
        progress.message(&format!(
            "{}: rewriting {} object(s) in {target}",
            desired.name,
            objects.len()
        ));
        progress.start(
            &format!("rewriting {} objects", desired.kind),
            objects.len() as u64,
        );
        for (index, object) in objects.iter().enumerate() {
            if let Some(reason) = self.stop.requested() {
                progress.finish();
                // storedVersions is untouched, so the next run finds the same work and resumes.
                return Err(ClusterError::Interrupted {
                    operation: format!(
                        "migrate {} ({} of {} objects rewritten)",
                        desired.name,
                        index,
                        objects.len()
                    ),
                    reason,
                });
            }
            if self.rewrite(desired, &target, object).await? {
                report.rewritten += 1;
            }
            progress.advance(1);
        }
        progress.finish();
        let after = self
            .list_all(
                &format!("count {}", desired.name),
                &collection,
                &format!("{}/{target}", desired.group),
                &desired.kind,
            )
            .await?;
        report.objects_after = after.len();
        if report.objects_after < report.objects_before {
            return Err(ClusterError::Other {
                operation: format!("migrate {}", desired.name),
                message: format!(
                    "{} objects before the rewrite, {} after: stopping before storedVersions is touched",
                    report.objects_before, report.objects_after
                ),
            });
        }
        // Step 4: trim storedVersions. A dry run never gets here with real writes.
        if !options.dry_run {
            let kept: Vec<String> = installed
                .stored_versions
                .iter()
                .filter(|v| !dropped.contains(v))
                .cloned()
                .chain(std::iter::once(target.clone()))
                .fold(Vec::new(), |mut acc, v| {
                    if !acc.contains(&v) {
                        acc.push(v);
                    }
                    acc
                });
            // Conditioned on the CRD crdguard last wrote: had another writer changed its
            // storage version meanwhile, objects may be stored in a version this list drops.
            if let Some(seen) = &metadata {
                metadata =
                    Some(current_metadata_matches(self, CRD_PATH, &desired.name, seen).await?);
            }
            let patched = self
                .patch_stored_versions(&desired.name, &kept, metadata.as_ref())
                .await?;
            metadata = patched.get("metadata").cloned().or(metadata);
            progress.message(&format!(
                "{}: status.storedVersions is now [{}]",
                desired.name,
                kept.join(", ")
            ));
        }
        Ok(Migrated { report, metadata })
    }

    /// One no-op update: the server re-encodes the object in the current storage version.
    /// Returns false when the object disappeared meanwhile.
    async fn rewrite(
        &self,
        crd: &Crd,
        version: &str,
        object: &Value,
    ) -> Result<bool, ClusterError> {
        let Some(name) = object.pointer("/metadata/name").and_then(Value::as_str) else {
            return Ok(false);
        };
        let namespace = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str);
        let collection = Request::new(object_collection(crd, version, namespace));
        let mut current = object.clone();
        for _ in 0..CONFLICT_RETRIES {
            let operation = format!("rewrite {}/{name}", crd.plural);
            let request = json_body(&current)
                .and_then(|bytes| collection.replace(name, &PostParams::default(), bytes));
            let result = self.send(&operation, request).await;
            match result {
                Ok(_) => return Ok(true),
                Err(e) if e.code() == Some(404) => return Ok(false),
                Err(e) if e.code() == Some(409) => {
                    // Someone else wrote it: re-read and rewrite the fresh copy.
                    let read = collection.get(name, &GetParams::default());
                    match self.send(&format!("read {name}"), read).await {
                        Ok(fresh) => current = fresh,
                        Err(e) if e.code() == Some(404) => return Ok(false),
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(ClusterError::Other {
            operation: format!("rewrite {}/{name}", crd.plural),
            message: format!("still conflicting after {CONFLICT_RETRIES} attempts"),
        })
    }

    async fn patch_stored_versions(
        &self,
        name: &str,
        versions: &[String],
        seen: Option<&Value>,
    ) -> Result<Value, ClusterError> {
        let mut body = json!({ "status": { "storedVersions": versions } });
        if let Some(version) = seen.and_then(|m| m.get("resourceVersion")) {
            body["metadata"] = json!({ "resourceVersion": version });
        }
        let request = Request::new(CRD_PATH).patch_subresource(
            "status",
            name,
            &PatchParams::default(),
            &Patch::Merge(&body),
        );
        self.send(&format!("patch {name} status.storedVersions"), request)
            .await
            .map_err(|e| match e {
                ClusterError::Api {
                    code: 409,
                    operation,
                    ..
                } => ClusterError::Stale {
                    operation,
                    message: "the CRD changed while its objects were being migrated".into(),
                },
                other => other,
            })
    }
}

/// The desired CRD plus the installed versions it drops, kept served but not storage.
fn bridge_body(installed: &Crd, desired: &Crd) -> Value {
    let mut body = apply_body(desired);
    let installed_versions = installed
        .object
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(Value::Array(versions)) = body.pointer_mut("/spec/versions") {
        for mut old in installed_versions {
            let name = old
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if desired.has_version(&name) {
                continue;
            }
            if let Value::Object(map) = &mut old {
                map.insert("served".into(), Value::Bool(true));
                map.insert("storage".into(), Value::Bool(false));
            }
            versions.push(old);
        }
    }
    body
}

fn collection_path(crd: &Crd, version: &str) -> String {
    format!("/apis/{}/{version}/{}", crd.group, crd.plural)
}

/// The collection an object of `crd` lives in: its namespace's, for a namespaced CRD.
fn object_collection(crd: &Crd, version: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if crd.scope == "Namespaced" => {
            format!(
                "/apis/{}/{version}/namespaces/{ns}/{}",
                crd.group, crd.plural
            )
        }
        _ => collection_path(crd, version),
    }
}
