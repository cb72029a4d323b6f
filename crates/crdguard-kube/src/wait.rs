//! Waiting for CRDs to be `Established` and `NamesAccepted`, by watch (not by polling).

use std::collections::BTreeSet;
use std::time::Duration;

use futures::TryStreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};

use crate::{Cluster, ClusterError};

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
        let result = tokio::time::timeout(timeout, async {
            while let Some(crd) = stream.try_next().await.map_err(|e| ClusterError::Other {
                operation: "watch CustomResourceDefinitions".into(),
                message: format!("{} ({server})", crate::error::chain(&e)),
            })? {
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
        })
        .await;
        match result {
            Ok(Ok(())) => Ok(WaitOutcome { pending }),
            Ok(Err(e)) => Err(e),
            Err(_) => Ok(WaitOutcome { pending }),
        }
    }
}
