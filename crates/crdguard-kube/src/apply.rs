//! Server-side apply of CRDs with field manager `crdguard`, bounded concurrency, optional
//! server-side dry run. Conflicts with other field managers are reported, never forced unless
//! asked.

use futures::StreamExt;
use serde_json::{Map, Value};

use crdguard_core::Crd;
use crdguard_core::owner::FIELD_MANAGER;

use crate::{CRD_PATH, Cluster, ClusterError};

/// Re-sends of an apply that met a concurrent write (not a field-manager conflict).
const OPTIMISTIC_CONFLICT_RETRIES: u64 = 3;

/// A 409 that says "the object has been modified": someone wrote between the server's read and
/// write. Re-applying is safe (server-side apply is idempotent) and is what kubectl does. A 409
/// that says "Apply failed with N conflicts" is about field ownership and is reported instead.
fn is_optimistic_conflict(error: &ClusterError) -> bool {
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteResult {
    Applied,
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
    ) -> Result<Value, ClusterError> {
        self.apply_object(CRD_PATH, name, body, options).await
    }

    /// Applies one object of the collection at `collection` (e.g.
    /// `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies`).
    pub async fn apply_object(
        &self,
        collection: &str,
        name: &str,
        body: &Value,
        options: ApplyOptions,
    ) -> Result<Value, ClusterError> {
        let mut url = format!("{collection}/{name}?fieldManager={FIELD_MANAGER}");
        if options.force {
            url.push_str("&force=true");
        }
        if options.dry_run {
            url.push_str("&dryRun=All");
        }
        let mut conflicts = 0;
        loop {
            let result = self
                .send(
                    &format!("apply {name}"),
                    http::Method::PATCH,
                    &url,
                    "application/apply-patch+yaml",
                    Some(body),
                )
                .await;
            match result {
                Err(e) if is_optimistic_conflict(&e) && conflicts < OPTIMISTIC_CONFLICT_RETRIES => {
                    conflicts += 1;
                    tracing::debug!(name, conflicts, "object modified concurrently, re-applying");
                    tokio::time::sleep(std::time::Duration::from_millis(100 * conflicts)).await;
                }
                other => return other,
            }
        }
    }

    /// Applies CRDs concurrently. Returns one outcome per CRD, in input order; an error only
    /// when the cluster itself fails (unreachable, 5xx after retries), so callers can stop.
    pub async fn apply_crds(
        &self,
        crds: &[&Crd],
        options: ApplyOptions,
        mut on_done: impl FnMut(&WriteOutcome),
    ) -> Vec<WriteOutcome> {
        let mut results: Vec<Option<WriteOutcome>> = vec![None; crds.len()];
        // Once the cluster is unreachable (after the retries of one write), the others are not
        // sent: retrying hundreds of writes against a dead server only delays the report.
        let unreachable = std::sync::Mutex::new(None::<String>);
        let unreachable = &unreachable;
        let mut stream =
            futures::stream::iter(crds.iter().enumerate().map(|(index, crd)| async move {
                let stopped = unreachable.lock().ok().and_then(|g| g.clone());
                let result = match (self.stop.requested(), stopped) {
                    (Some(reason), _) => WriteResult::Interrupted(reason),
                    (None, Some(reason)) => WriteResult::NotAttempted(reason),
                    (None, None) => {
                        match self.apply_one(&crd.name, &apply_body(crd), options).await {
                            Ok(_) => WriteResult::Applied,
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
