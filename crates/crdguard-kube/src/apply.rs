//! Server-side apply of CRDs with field manager `crdguard`, bounded concurrency, optional
//! server-side dry run. Conflicts with other field managers are reported, never forced unless
//! asked.
//!
//! Every write the plan makes is conditioned on the object crdguard decided on (SPEC §11): an
//! upgrade carries the resourceVersion it read, a create is a POST that fails if the object
//! appeared meanwhile. Without this, two writers that each planned on what they saw can lower a
//! version the other just raised.

use futures::StreamExt;
use serde_json::{Map, Value};

use crdguard_core::Crd;
use crdguard_core::owner::FIELD_MANAGER;

use kube::core::Request;
use kube::core::params::{GetParams, Patch, PatchParams, PostParams};

use crate::request::json_body;
use crate::{CRD_PATH, Cluster, ClusterError};

/// Re-sends of an apply that met a concurrent write (not a field-manager conflict).
const OPTIMISTIC_CONFLICT_RETRIES: u64 = 3;

/// Attempts at handing a created object's fields to crdguard's server-side apply entry.
const OWNERSHIP_ATTEMPTS: usize = 5;

/// A 409 that says "the object has been modified": someone wrote between the server's read and
/// write. Re-applying is safe (server-side apply is idempotent) and is what kubectl does. A 409
/// that says "Apply failed with N conflicts" is about field ownership and is reported instead.
pub(crate) fn is_optimistic_conflict(error: &ClusterError) -> bool {
    match error {
        ClusterError::Api {
            code: 409, message, ..
        } => !message.starts_with("Apply failed with"),
        _ => false,
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    /// `dryRun=All`: the server validates and admits but stores nothing.
    pub dry_run: bool,
    /// `force=true`: take fields over from other managers (`--take-ownership`).
    pub force: bool,
    pub concurrency: usize,
}

/// What a write expects to find on the server.
#[derive(Debug, Clone)]
pub enum Precondition {
    /// Write over whatever is there (crdguard's own follow-up writes, guard policies).
    Unconditional,
    /// The object must not exist: sent as a create (POST), which the server refuses with 409
    /// AlreadyExists if another writer created it after crdguard looked. Server-side apply is an
    /// upsert and cannot say this.
    Absent,
    /// The object must still be the one crdguard read (its `metadata`): the write carries that
    /// resourceVersion. When only the server's own bookkeeping moved it on (status conditions:
    /// same uid, generation, labels and annotations), the write is re-sent on the new version;
    /// anything else is [`ClusterError::Stale`].
    Seen(Value),
}

impl Precondition {
    /// The precondition for writing over `installed` (or creating it when there is none).
    pub fn for_object(installed: Option<&Value>) -> Self {
        match installed.and_then(|o| o.get("metadata")) {
            Some(metadata) if metadata.get("resourceVersion").is_some() => {
                Precondition::Seen(metadata.clone())
            }
            Some(_) => Precondition::Unconditional,
            None => Precondition::Absent,
        }
    }
}

/// Fields of `metadata` whose change means another writer changed the object (status-only
/// changes by controllers leave all of them alone).
fn same_object(seen: &Value, now: &Value) -> bool {
    [
        "uid",
        "generation",
        "labels",
        "annotations",
        "deletionTimestamp",
    ]
    .iter()
    .all(|key| seen.get(*key) == now.get(*key))
}

/// In words, what changed between what crdguard read and what is there now.
fn describe_change(seen: &Value, now: &Value) -> String {
    let field = |v: &Value, key: &str| v.get(key).map(Value::to_string).unwrap_or("none".into());
    if seen.get("uid") != now.get("uid") {
        return "it was deleted and created again".into();
    }
    if now.get("deletionTimestamp").is_some() {
        return "it is being deleted".into();
    }
    if seen.get("generation") != now.get("generation") {
        return format!(
            "its spec was changed (generation {} -> {})",
            field(seen, "generation"),
            field(now, "generation")
        );
    }
    "its labels or annotations were changed".into()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteResult {
    Applied,
    /// The object changed after crdguard read it (or appeared, for a create): nothing was
    /// written; the caller observes again and decides again.
    Stale(String),
    /// Another field manager owns fields we would change (409).
    Conflict(String),
    Failed(String),
    /// Not sent: the cluster had become unreachable, so the remaining writes were stopped.
    NotAttempted(String),
    /// Not sent: a stop was requested (SIGINT, SIGTERM) before this write started.
    Interrupted(String),
}

#[derive(Debug, Clone)]
pub struct WriteOutcome {
    pub crd: String,
    pub result: WriteResult,
    /// The object the server answered the write with was Established and NamesAccepted (an
    /// apply over an established CRD; never a create, which the server's controllers
    /// establish afterwards).
    pub ready: bool,
}

/// One write of a plan: the CRD to send and what it must find on the server.
#[derive(Debug, Clone)]
pub struct PlannedWrite<'a> {
    pub crd: &'a Crd,
    pub precondition: Precondition,
}

/// What crdguard sends: the CRD without status and without server-managed metadata.
pub fn apply_body(crd: &Crd) -> Value {
    let mut body = Map::new();
    body.insert("apiVersion".into(), "apiextensions.k8s.io/v1".into());
    body.insert("kind".into(), "CustomResourceDefinition".into());
    let mut metadata = Map::new();
    metadata.insert("name".into(), crd.name.clone().into());
    if let Some(source) = crd.object.get("metadata") {
        for key in ["labels", "annotations"] {
            if let Some(Value::Object(map)) = source.get(key)
                && !map.is_empty()
            {
                metadata.insert(key.into(), Value::Object(map.clone()));
            }
        }
    }
    body.insert("metadata".into(), Value::Object(metadata));
    if let Some(spec) = crd.object.get("spec") {
        body.insert("spec".into(), spec.clone());
    }
    Value::Object(body)
}

impl Cluster {
    /// Applies one CRD with server-side apply.
    pub(crate) async fn apply_one(
        &self,
        name: &str,
        body: &Value,
        options: ApplyOptions,
        precondition: &Precondition,
    ) -> Result<Value, ClusterError> {
        self.apply_object(CRD_PATH, name, body, options, precondition)
            .await
    }

    /// Writes one object of the collection at `collection` (e.g.
    /// `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies`) under
    /// `precondition`: server-side apply, or a create when it must be absent.
    pub async fn apply_object(
        &self,
        collection: &str,
        name: &str,
        body: &Value,
        options: ApplyOptions,
        precondition: &Precondition,
    ) -> Result<Value, ClusterError> {
        match precondition {
            Precondition::Absent => self.create_object(collection, name, body, options).await,
            Precondition::Unconditional => {
                self.server_side_apply(collection, name, body, options, None)
                    .await
            }
            Precondition::Seen(seen) => {
                let mut seen = seen.clone();
                let mut options = options;
                // A create leaves crdguard's fields in an `Update` entry (see `create_object`):
                // hand them to its `Apply` entry before the first apply over it, or the apply
                // would conflict with crdguard itself. A dry run cannot write the hand-over, so
                // it forces over that entry alone (below): the same fields change hands as with
                // the hand-over, except that a field the create set and this apply drops stays
                // in the dry run's object (the entry still holds it) and goes in the real write.
                if !options.dry_run && holds_update_entry(&seen) {
                    seen = self.hand_over(collection, name, seen).await?;
                }
                for _ in 0..OPTIMISTIC_CONFLICT_RETRIES {
                    match self
                        .server_side_apply(collection, name, body, options, Some(&seen))
                        .await
                    {
                        Err(e) if is_optimistic_conflict(&e) => {
                            seen = current_metadata_matches(self, collection, name, &seen).await?;
                            tracing::debug!(
                                name,
                                "only status moved on; re-sending on the new resourceVersion"
                            );
                        }
                        Err(e)
                            if options.dry_run
                                && !options.force
                                && holds_update_entry(&seen)
                                && conflicts_only_with_crdguard(&e) =>
                        {
                            tracing::debug!(
                                name,
                                "dry run: the conflicts are with crdguard's own create; the real \
                                 write hands them over first"
                            );
                            options.force = true;
                        }
                        other => return other,
                    }
                }
                Err(ClusterError::Stale {
                    operation: format!("apply {name}"),
                    message: format!(
                        "its resourceVersion kept changing ({OPTIMISTIC_CONFLICT_RETRIES} attempts)"
                    ),
                })
            }
        }
    }

    /// The growing pause before try `attempt + 1` of a write that met a concurrent one; a stop
    /// request ends it (`Interrupted`).
    async fn pause_before_retry(&self, operation: &str, attempt: u64) -> Result<(), ClusterError> {
        self.stop
            .pause(std::time::Duration::from_millis(100 * attempt))
            .await
            .map_err(|reason| ClusterError::Interrupted {
                operation: operation.to_string(),
                reason,
            })
    }

    /// One server-side apply; with `seen`, conditioned on its resourceVersion.
    async fn server_side_apply(
        &self,
        collection: &str,
        name: &str,
        body: &Value,
        options: ApplyOptions,
        seen: Option<&Value>,
    ) -> Result<Value, ClusterError> {
        let params = PatchParams {
            dry_run: options.dry_run,
            force: options.force,
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..Default::default()
        };
        let conditioned;
        let body = match seen.and_then(|m| m.get("resourceVersion")) {
            Some(version) => {
                conditioned = with_resource_version(body, version);
                &conditioned
            }
            None => body,
        };
        let mut conflicts = 0;
        loop {
            let request = Request::new(collection).patch(name, &params, &Patch::Apply(body));
            let result = self.send(&format!("apply {name}"), request).await;
            match result {
                // Unconditioned, a concurrent write is retried: server-side apply is
                // idempotent and this is what kubectl does. Conditioned, the caller decides.
                Err(e)
                    if seen.is_none()
                        && is_optimistic_conflict(&e)
                        && conflicts < OPTIMISTIC_CONFLICT_RETRIES =>
                {
                    conflicts += 1;
                    tracing::debug!(name, conflicts, "object modified concurrently, re-applying");
                    self.pause_before_retry(&format!("apply {name}"), conflicts)
                        .await?;
                }
                other => return other,
            }
        }
    }

    /// Creates the object (POST, 409 if it exists). The create leaves crdguard's fields in an
    /// `Update` entry of `managedFields`; the first apply over the object later hands them to
    /// crdguard's `Apply` entry ([`Self::hand_over`]), as `kubectl` does when it moves an
    /// object to server-side apply. Handing over right here cost one more full write of every
    /// created CRD (the server validates a CRD's whole schema on each update): a quarter of a
    /// fresh install's time, for objects most of which are never written again.
    async fn create_object(
        &self,
        collection: &str,
        name: &str,
        body: &Value,
        options: ApplyOptions,
    ) -> Result<Value, ClusterError> {
        let params = PostParams {
            dry_run: options.dry_run,
            field_manager: Some(FIELD_MANAGER.to_string()),
        };
        let mut attempts = 0;
        let created = loop {
            let request =
                json_body(body).and_then(|bytes| Request::new(collection).create(&params, bytes));
            match self.send(&format!("create {name}"), request).await {
                // Only AlreadyExists means another writer was first.
                Err(ClusterError::Api {
                    code: 409, reason, ..
                }) if reason == "AlreadyExists" => {
                    return Err(ClusterError::Stale {
                        operation: format!("create {name}"),
                        message: "another writer created it after crdguard looked".into(),
                    });
                }
                // A concurrent-write 409 says nothing about this object: try again, bounded.
                Err(e) if is_optimistic_conflict(&e) && attempts < OPTIMISTIC_CONFLICT_RETRIES => {
                    attempts += 1;
                    self.pause_before_retry(&format!("create {name}"), attempts)
                        .await?;
                }
                other => break other?,
            }
        };
        Ok(created)
    }

    /// Hands crdguard's `Update` entry of the object crdguard read (`seen`, its metadata) to
    /// its `Apply` entry; returns the metadata to condition the apply on. The JSON patch tests
    /// the uid, generation and entry, not the resourceVersion (the server's status writes move
    /// it); what it answers is held to `seen` like any read, so a change by another writer
    /// between crdguard's read and this write is still [`ClusterError::Stale`].
    async fn hand_over(
        &self,
        collection: &str,
        name: &str,
        seen: Value,
    ) -> Result<Value, ClusterError> {
        let mut current = seen.clone();
        for _ in 0..OWNERSHIP_ATTEMPTS {
            let object = serde_json::json!({ "metadata": current });
            match self.take_apply_ownership(collection, name, &object).await {
                Ok(Some(updated)) => {
                    let metadata = updated.get("metadata").cloned().unwrap_or_default();
                    return still_seen(name, &seen, Some(metadata));
                }
                Ok(None) => return Ok(current),
                // The entry or the object moved: on the same object (status writes), try
                // again on what is there now; anything else is stale.
                Err(e) if matches!(e.code(), Some(409 | 422)) => {
                    current = current_metadata_matches(self, collection, name, &seen).await?;
                    if !holds_update_entry(&current) {
                        return Ok(current);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(ClusterError::Stale {
            operation: format!("write {name}"),
            message: format!(
                "its field ownership kept moving ({OWNERSHIP_ATTEMPTS} attempts at handing \
                 crdguard's create to server-side apply)"
            ),
        })
    }

    /// Rewrites the `managedFields` entry the create left (`crdguard`, `Update`) as `Apply`.
    /// The JSON patch is conditioned on the object crdguard created (`test` of its uid and
    /// generation) and on that entry (`test` of its manager and operation at its index), not on
    /// the resourceVersion: the server's own status writes right after a create (a CRD's
    /// NamesAccepted and Established) move the resourceVersion but not these, and conditioning
    /// on it made most hand-overs of a fresh install fail once and read the object again.
    async fn take_apply_ownership(
        &self,
        collection: &str,
        name: &str,
        created: &Value,
    ) -> Result<Option<Value>, ClusterError> {
        let Some(patch) = ownership_patch(created) else {
            return Ok(None);
        };
        let operation = format!("take server-side apply ownership of {name}");
        let patch: json_patch::Patch =
            serde_json::from_value(patch).map_err(|e| ClusterError::Other {
                operation: operation.clone(),
                message: format!("not a JSON patch: {e}"),
            })?;
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..Default::default()
        };
        let request = Request::new(collection).patch(name, &params, &Patch::<()>::Json(patch));
        self.send(&operation, request).await.map(Some)
    }

    /// A server-side dry run of deleting one CRD: `Ok` when the server would accept it, the
    /// server's refusal otherwise. Nothing is deleted. The guard's first enforcement probe:
    /// the guard denies deleting a managed CRD, and Gateway API's safe-upgrades policy lets
    /// deletes through, so only the guard answers it.
    pub async fn dry_run_crd_delete(&self, name: &str) -> Result<(), ClusterError> {
        let params = kube::core::params::DeleteParams {
            dry_run: true,
            ..Default::default()
        };
        let request = Request::new(CRD_PATH).delete(name, &params);
        self.send(&format!("dry-run delete of {name}"), request)
            .await
            .map(|_| ())
    }

    /// A server-side dry run of a JSON merge patch of one CRD: `Ok` when the server would
    /// accept it, the server's refusal otherwise. Nothing is written. The guard's enforcement
    /// probe: a write the guard must deny, sent until it is.
    pub async fn dry_run_crd_merge_patch(
        &self,
        name: &str,
        patch: &Value,
    ) -> Result<(), ClusterError> {
        let params = PatchParams {
            dry_run: true,
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..Default::default()
        };
        let request = Request::new(CRD_PATH).patch(name, &params, &Patch::Merge(patch));
        self.send(&format!("dry-run patch of {name}"), request)
            .await
            .map(|_| ())
    }

    /// The object's `metadata` as it is now, `None` when it is gone.
    pub(crate) async fn current_metadata(
        &self,
        collection: &str,
        name: &str,
    ) -> Result<Option<Value>, ClusterError> {
        Ok(self
            .get_object(collection, name)
            .await?
            .and_then(|o| o.get("metadata").cloned()))
    }

    /// The object as it is now, `None` when it is gone.
    async fn get_object(
        &self,
        collection: &str,
        name: &str,
    ) -> Result<Option<Value>, ClusterError> {
        let request = Request::new(collection).get(name, &GetParams::default());
        match self.send(&format!("read {name}"), request).await {
            Ok(object) => Ok(Some(object)),
            Err(e) if e.code() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Applies CRDs concurrently. Returns one outcome per CRD, in input order; an error only
    /// when the cluster itself fails (unreachable, 5xx after retries), so callers can stop.
    pub async fn apply_crds(
        &self,
        writes: &[PlannedWrite<'_>],
        options: ApplyOptions,
        mut on_done: impl FnMut(&WriteOutcome),
    ) -> Vec<WriteOutcome> {
        let mut results: Vec<Option<WriteOutcome>> = vec![None; writes.len()];
        // Once the cluster is unreachable (after the retries of one write), the others are not
        // sent: retrying hundreds of writes against a dead server only delays the report.
        let unreachable = std::sync::Mutex::new(None::<String>);
        let unreachable = &unreachable;
        let mut stream =
            futures::stream::iter(largest_first(writes).into_iter().map(|index| async move {
                let write = &writes[index];
                let crd = write.crd;
                let stopped = unreachable.lock().ok().and_then(|g| g.clone());
                let mut ready = false;
                let result = match (self.stop.requested(), stopped) {
                    (Some(reason), _) => WriteResult::Interrupted(reason),
                    (None, Some(reason)) => WriteResult::NotAttempted(reason),
                    (None, None) => {
                        match self
                            .apply_one(&crd.name, &apply_body(crd), options, &write.precondition)
                            .await
                        {
                            Ok(written) => {
                                ready = crate::wait::is_ready(&written);
                                WriteResult::Applied
                            }
                            Err(ClusterError::Stale { message, .. }) => WriteResult::Stale(message),
                            Err(e) if e.code() == Some(409) => WriteResult::Conflict(e.to_string()),
                            Err(e) => {
                                if matches!(e, ClusterError::Unreachable { .. })
                                    && let Ok(mut guard) = unreachable.lock()
                                {
                                    guard.get_or_insert_with(|| e.to_string());
                                }
                                WriteResult::Failed(e.to_string())
                            }
                        }
                    }
                };
                (
                    index,
                    WriteOutcome {
                        crd: crd.name.clone(),
                        result,
                        ready,
                    },
                )
            }))
            .buffer_unordered(options.concurrency.max(1));
        while let Some((index, outcome)) = stream.next().await {
            on_done(&outcome);
            results[index] = Some(outcome);
        }
        results.into_iter().flatten().collect()
    }
}

/// The indices of `writes`, largest CRD first. The server's cost of a CRD write grows with its
/// schema (validation, CEL cost estimates), and a few Gateway API CRDs are most of a bundle:
/// started first, they overlap with the small ones instead of running alone at the end.
fn largest_first(writes: &[PlannedWrite<'_>]) -> Vec<usize> {
    let size = |crd: &Crd| {
        let mut counter = ByteCounter(0);
        // Writing into a counter cannot fail, and a size of 0 only changes the order.
        let _ = serde_json::to_writer(&mut counter, &crd.object.get("spec"));
        counter.0
    };
    let sizes: Vec<usize> = writes.iter().map(|w| size(w.crd)).collect();
    let mut order: Vec<usize> = (0..writes.len()).collect();
    order.sort_by_key(|&index| std::cmp::Reverse(sizes[index]));
    order
}

/// An `io::Write` that only counts bytes.
struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The object's current `metadata`, if it is still the object of `seen` (only the server's
/// bookkeeping moved on); [`ClusterError::Stale`] otherwise.
pub(crate) async fn current_metadata_matches(
    cluster: &Cluster,
    collection: &str,
    name: &str,
    seen: &Value,
) -> Result<Value, ClusterError> {
    still_seen(
        name,
        seen,
        cluster.current_metadata(collection, name).await?,
    )
}

/// `now` (the object's metadata, `None` when it is gone) if it is still the object of `seen`;
/// [`ClusterError::Stale`] saying what changed otherwise.
fn still_seen(name: &str, seen: &Value, now: Option<Value>) -> Result<Value, ClusterError> {
    let stale = |message: String| ClusterError::Stale {
        operation: format!("write {name}"),
        message,
    };
    match now {
        None => Err(stale("it was deleted after crdguard read it".into())),
        Some(now) if same_object(seen, &now) => Ok(now),
        Some(now) => Err(stale(format!(
            "{} after crdguard read it",
            describe_change(seen, &now)
        ))),
    }
}

/// Whether the object (its `metadata`) holds fields in crdguard's `Update` entry: a create by
/// crdguard not yet handed to server-side apply.
fn holds_update_entry(metadata: &Value) -> bool {
    metadata
        .get("managedFields")
        .and_then(Value::as_array)
        .is_some_and(|entries| entries.iter().any(is_crdguard_update_entry))
}

fn is_crdguard_update_entry(entry: &Value) -> bool {
    entry.get("manager").and_then(Value::as_str) == Some(FIELD_MANAGER)
        && entry.get("operation").and_then(Value::as_str) == Some("Update")
        && entry.get("subresource").is_none()
}

/// A field-manager 409 whose conflicts are all with crdguard's own `Update` entry. The server
/// words them `Apply failed with 1 conflict: conflict with "MANAGER" using VERSION: PATH`, or
/// `Apply failed with N conflicts: conflicts with "MANAGER" using VERSION:` followed by `- PATH`
/// lines, one such block per manager (`"MANAGER" with subresource "S"` for a subresource's).
fn conflicts_only_with_crdguard(error: &ClusterError) -> bool {
    let ClusterError::Api {
        code: 409, message, ..
    } = error
    else {
        return false;
    };
    let Some((_, conflicts)) = message
        .strip_prefix("Apply failed with ")
        .and_then(|rest| rest.split_once(": "))
    else {
        return false;
    };
    let own = format!("\"{FIELD_MANAGER}\" using ");
    let mut managers = conflicts.lines().filter(|line| !line.starts_with("- "));
    let mut any = false;
    managers.all(|line| {
        any = true;
        ["conflict with ", "conflicts with "].iter().any(|prefix| {
            line.strip_prefix(prefix)
                .is_some_and(|m| m.starts_with(&own))
        })
    }) && any
}

/// The JSON patch that turns crdguard's `Update` entry of `object` into an `Apply` entry, with
/// `test`s of the object's uid and generation and of the entry itself; `None` when there is no
/// such entry (nothing to hand over) or the object has no uid or generation to condition on.
fn ownership_patch(object: &Value) -> Option<Value> {
    let entries = object.pointer("/metadata/managedFields")?.as_array()?;
    let index = entries.iter().position(is_crdguard_update_entry)?;
    let uid = object.pointer("/metadata/uid")?;
    let generation = object.pointer("/metadata/generation")?;
    let entry = format!("/metadata/managedFields/{index}");
    Some(serde_json::json!([
        { "op": "test", "path": "/metadata/uid", "value": uid },
        { "op": "test", "path": "/metadata/generation", "value": generation },
        { "op": "test", "path": format!("{entry}/manager"), "value": FIELD_MANAGER },
        { "op": "test", "path": format!("{entry}/operation"), "value": "Update" },
        { "op": "replace", "path": format!("{entry}/operation"), "value": "Apply" },
    ]))
}

/// `body` with `metadata.resourceVersion` set: the server refuses the write (409) if the object
/// has moved on since.
fn with_resource_version(body: &Value, version: &Value) -> Value {
    let mut body = body.clone();
    if let Some(metadata) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.insert("resourceVersion".into(), version.clone());
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_only_changes_keep_the_object_the_same() {
        let seen = json!({"uid": "u1", "generation": 3, "resourceVersion": "10",
                          "annotations": {"a": "1"}});
        let status_moved = json!({"uid": "u1", "generation": 3, "resourceVersion": "11",
                                  "annotations": {"a": "1"}});
        assert!(same_object(&seen, &status_moved));
        let spec_changed = json!({"uid": "u1", "generation": 4, "resourceVersion": "12",
                                  "annotations": {"a": "1"}});
        assert!(!same_object(&seen, &spec_changed));
        assert!(describe_change(&seen, &spec_changed).contains("generation 3 -> 4"));
        let recreated = json!({"uid": "u2", "generation": 1, "annotations": {"a": "1"}});
        assert_eq!(
            describe_change(&seen, &recreated),
            "it was deleted and created again"
        );
        let relabelled = json!({"uid": "u1", "generation": 3, "annotations": {"a": "2"}});
        assert!(!same_object(&seen, &relabelled));
    }

    #[test]
    fn ownership_patch_names_crdguards_update_entry_and_the_created_object() {
        let created = json!({"metadata": {"uid": "u1", "generation": 1, "resourceVersion": "7",
            "managedFields": [
                {"manager": "kube-apiserver", "operation": "Update", "subresource": "status"},
                {"manager": "crdguard", "operation": "Update"}]}});
        let patch = ownership_patch(&created).unwrap();
        assert_eq!(
            patch[0],
            json!({"op": "test", "path": "/metadata/uid", "value": "u1"})
        );
        assert_eq!(patch[1]["value"], 1);
        assert_eq!(patch[2]["path"], "/metadata/managedFields/1/manager");
        assert_eq!(
            patch[4],
            json!({"op": "replace", "path": "/metadata/managedFields/1/operation", "value": "Apply"})
        );
        // The resourceVersion is not a condition: status writes move it.
        assert!(!patch.to_string().contains("resourceVersion"));
        // Already an Apply entry, or crdguard's entry on the status subresource: nothing to do.
        let applied = json!({"metadata": {"uid": "u1", "generation": 1,
            "managedFields": [{"manager": "crdguard", "operation": "Apply"},
                {"manager": "crdguard", "operation": "Update", "subresource": "status"}]}});
        assert!(ownership_patch(&applied).is_none());
    }

    fn conflict(message: &str) -> ClusterError {
        ClusterError::Api {
            operation: "apply x".into(),
            code: 409,
            reason: "Conflict".into(),
            message: message.into(),
            retry_after: None,
        }
    }

    #[test]
    fn only_conflicts_with_crdguards_own_create_are_its_own() {
        // The server's wording (k8s.io/apimachinery managedfields conflict.go), one and many.
        let one = "Apply failed with 1 conflict: conflict with \"crdguard\" using \
                   apiextensions.k8s.io/v1: .spec.versions[name=\"v1\"].served";
        assert!(conflicts_only_with_crdguard(&conflict(one)));
        let many = "Apply failed with 2 conflicts: conflicts with \"crdguard\" using \
                    apiextensions.k8s.io/v1:\n- .spec.a\n- .spec.b";
        assert!(conflicts_only_with_crdguard(&conflict(many)));
        let mixed = "Apply failed with 3 conflicts: conflicts with \"crdguard\" using \
                     apiextensions.k8s.io/v1:\n- .spec.a\nconflicts with \"kubectl\":\n- .spec.b";
        assert!(!conflicts_only_with_crdguard(&conflict(mixed)));
        let other = "Apply failed with 1 conflict: conflict with \"helm\" using \
                     apiextensions.k8s.io/v1: .spec.a";
        assert!(!conflicts_only_with_crdguard(&conflict(other)));
        // crdguard's entry on a subresource is not its create.
        let status = "Apply failed with 1 conflict: conflict with \"crdguard\" with subresource \
                      \"status\" using apiextensions.k8s.io/v1: .status.a";
        assert!(!conflicts_only_with_crdguard(&conflict(status)));
        // A concurrent-write 409 is not a field-manager conflict.
        let modified = "Operation cannot be fulfilled: the object has been modified";
        assert!(!conflicts_only_with_crdguard(&conflict(modified)));
    }

    #[test]
    fn an_update_entry_of_crdguard_is_a_create_not_handed_over() {
        let created = json!({"managedFields": [
            {"manager": "kube-apiserver", "operation": "Update", "subresource": "status"},
            {"manager": "crdguard", "operation": "Update"}]});
        assert!(holds_update_entry(&created));
        let applied = json!({"managedFields": [
            {"manager": "crdguard", "operation": "Apply"},
            {"manager": "crdguard", "operation": "Update", "subresource": "status"}]});
        assert!(!holds_update_entry(&applied));
        assert!(!holds_update_entry(&json!({"name": "x"})));
    }

    #[test]
    fn preconditions_follow_what_was_read() {
        assert!(matches!(
            Precondition::for_object(None),
            Precondition::Absent
        ));
        let read = json!({"metadata": {"name": "x", "resourceVersion": "5"}});
        let Precondition::Seen(metadata) = Precondition::for_object(Some(&read)) else {
            panic!("a read object is a Seen precondition");
        };
        let body = with_resource_version(
            &json!({"metadata": {"name": "x"}}),
            &metadata["resourceVersion"],
        );
        assert_eq!(body["metadata"]["resourceVersion"], "5");
        // A snapshot object without a resourceVersion cannot be conditioned on.
        let bare = json!({"metadata": {"name": "x"}});
        assert!(matches!(
            Precondition::for_object(Some(&bare)),
            Precondition::Unconditional
        ));
    }
}
