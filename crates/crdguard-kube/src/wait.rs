//! Waiting for CRDs to be `Established` and `NamesAccepted`, by watch (not by polling).

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};

use crate::{Cluster, ClusterError};

/// Consecutive watch failures tolerated (each followed by the watcher's backoff).
const MAX_WATCH_FAILURES: u32 = 6;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitOutcome {
    /// CRDs still not established when the wait ended.
    pub pending: BTreeSet<String>,
}

fn condition_true(crd: &CustomResourceDefinition, kind: &str) -> bool {
    crd.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == kind && c.status == "True")
        })
}

impl Cluster {
    /// Watches CRDs until every name in `names` is Established and NamesAccepted, or `timeout`.
    pub async fn wait_established(
        &self,
        names: &BTreeSet<String>,
        timeout: Duration,
        mut on_ready: impl FnMut(&str),
    ) -> Result<WaitOutcome, ClusterError> {
        let mut pending = names.clone();
        if pending.is_empty() {
            return Ok(WaitOutcome { pending });
        }
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .applied_objects();
        let mut stream = std::pin::pin!(stream);
        let server = self.server.clone();
        let stop = self.stop.clone();
        let watching = tokio::time::timeout(timeout, async {
            // A watch that breaks (connection reset, proxy timeout) is resumed by the watcher
            // after its backoff; only a run of failures with no event in between ends the wait.
            let mut failures = 0;
            while let Some(event) = stream.next().await {
                let crd = match event {
                    Ok(crd) => {
                        failures = 0;
                        crd
                    }
                    Err(e) if failures < MAX_WATCH_FAILURES => {
                        failures += 1;
                        tracing::debug!(failures, error = %e, "watch failed, resuming");
                        continue;
                    }
                    Err(e) => {
                        return Err(ClusterError::Other {
                            operation: "watch CustomResourceDefinitions".into(),
                            message: format!("{} ({server})", crate::error::chain(&e)),
                        });
                    }
                };
                let Some(name) = crd.metadata.name.as_deref() else {
                    continue;
                };
                if pending.contains(name)
                    && condition_true(&crd, "Established")
                    && condition_true(&crd, "NamesAccepted")
                {
                    pending.remove(name);
                    on_ready(name);
                    if pending.is_empty() {
                        break;
                    }
                }
            }
            Ok::<(), ClusterError>(())
        });
        // A stop request ends the wait at once; what is still pending is reported as such.
        let result = tokio::select! {
            result = watching => result,
            _ = stop.stopped() => return Ok(WaitOutcome { pending }),
        };
        match result {
            Ok(Ok(())) => Ok(WaitOutcome { pending }),
            Ok(Err(e)) => Err(e),
            Err(_) => Ok(WaitOutcome { pending }),
        }
    }
}
