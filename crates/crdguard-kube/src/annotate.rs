//! One annotation on a CRD, written apart from the CRD's content: recorded requirements
//! (SPEC §12) change with the products on the cluster, not with the bundle, so they are not
//! part of crdguard's server-side applies (whose field manager would otherwise own them, and
//! drop them on the next apply of a source without them).

use serde_json::{Value, json};

use crate::apply::is_optimistic_conflict;
use crate::{CRD_PATH, Cluster, ClusterError};

/// How many times a write that lost a race with another writer is made again on what is there.
const RACES: usize = 5;

impl Cluster {
    /// Sets annotation `key` of CRD `name` to what `update` makes of its current value, with a
    /// JSON merge patch under field manager `manager`, conditioned on the resourceVersion just
    /// read (a concurrent writer's change is read and merged again, never overwritten).
    /// `update` returns `None` to leave the CRD alone. Returns whether anything was written;
    /// a CRD that is gone is left alone.
    pub async fn update_crd_annotation(
        &self,
        name: &str,
        key: &str,
        manager: &str,
        dry_run: bool,
        update: impl Fn(Option<&str>) -> Option<String>,
    ) -> Result<bool, ClusterError> {
        for _ in 0..RACES {
            let Some(metadata) = self.current_metadata(CRD_PATH, name).await? else {
                return Ok(false);
            };
            let current = metadata
                .pointer(&format!("/annotations/{}", key.replace('/', "~1")))
                .and_then(Value::as_str);
            let Some(value) = update(current) else {
                return Ok(false);
            };
            if current == Some(value.as_str()) {
                return Ok(false);
            }
            let patch = json!({
                "metadata": {
                    "resourceVersion": metadata.get("resourceVersion").cloned().unwrap_or(Value::Null),
                    "annotations": { key: value },
                }
            });
            let params = kube::core::params::PatchParams {
                dry_run,
                field_manager: Some(manager.to_string()),
                ..Default::default()
            };
            let request = kube::core::Request::new(CRD_PATH).patch(
                name,
                &params,
                &kube::core::params::Patch::Merge(&patch),
            );
            match self.send(&format!("annotate {name} {key}"), request).await {
                Ok(_) => return Ok(true),
                Err(e) if is_optimistic_conflict(&e) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(ClusterError::Other {
            operation: format!("annotate {name} {key}"),
            message: format!(
                "other writers changed it {RACES} times in a row while crdguard merged its entry; run the same command again"
            ),
        })
    }
}
