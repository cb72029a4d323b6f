//! Waiting for CRDs to be `Established` and `NamesAccepted`, by watch (not by polling).
//!
//! The list and the watch go through the adapter's own request path (`send`, `open_stream`)
//! rather than kube-runtime's `watcher`: the watcher retries a failed list or watch after its
//! own backoff (800 ms and up), which ignores a 429's `Retry-After`; ours honours it on every
//! request, lists and watches included (SPEC §10).

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use http_body_util::BodyExt;
use serde_json::Value;

use crate::{CRD_PATH, Cluster, ClusterError};

/// Consecutive watch failures tolerated (each followed by a backoff); an event resets the count.
const MAX_WATCH_FAILURES: u32 = 6;
/// The first wait after a broken watch stream; doubled per consecutive failure.
const FIRST_WATCH_BACKOFF: Duration = Duration::from_millis(200);
/// One watch event larger than this is not a CRD the server would store (etcd's limit is
/// ~1.5 MiB per object); a stream that sends one is broken.
const MAX_EVENT_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitOutcome {
    /// CRDs still not established when the wait ended.
    pub pending: BTreeSet<String>,
}

fn condition_true(crd: &Value, kind: &str) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c["type"] == kind && c["status"] == "True")
        })
}

/// How a watch stream ended.
enum StreamEnd {
    /// The server closed it (its `timeoutSeconds`): watch again from the last version.
    Closed,
    /// Every pending CRD is ready.
    Done,
    /// The version to watch from is too old (410 Gone): list again.
    Expired,
    /// The connection broke or the stream was malformed.
    Broken(String),
}

struct Waiter<'a, F: FnMut(&str)> {
    pending: &'a mut BTreeSet<String>,
    on_ready: F,
}

/// Whether the CRD is Established and its names accepted: what the wait waits for.
pub(crate) fn is_ready(crd: &Value) -> bool {
    condition_true(crd, "Established") && condition_true(crd, "NamesAccepted")
}

impl<F: FnMut(&str)> Waiter<'_, F> {
    /// Takes note of one CRD; true when nothing is pending any more.
    fn see(&mut self, crd: &Value) -> bool {
        if let Some(name) = crd.pointer("/metadata/name").and_then(Value::as_str)
            && is_ready(crd)
        {
            self.ready(name);
        }
        self.pending.is_empty()
    }

    fn ready(&mut self, name: &str) {
        if self.pending.remove(name) {
            (self.on_ready)(name);
        }
    }
}

/// Where a wait starts.
#[derive(Debug, Clone)]
pub enum WaitStart {
    /// List the CRDs, then watch from the list's version.
    List,
    /// Watch from `version`, a version of the CRD collection read before the CRDs were
    /// written, so every change the writes caused is an event of the watch (and no list of
    /// every CRD of the cluster is needed, which on a cluster of 2,000 CRDs is 175 MB). A
    /// write the server took as no change makes no event: `ready` are the CRDs whose write
    /// was answered with an established object. Too old a version falls back to a list.
    After {
        version: String,
        ready: BTreeSet<String>,
    },
}

impl Cluster {
    /// Watches CRDs until every name in `names` is Established and NamesAccepted, or `timeout`.
    pub async fn wait_established(
        &self,
        names: &BTreeSet<String>,
        timeout: Duration,
        on_ready: impl FnMut(&str),
    ) -> Result<WaitOutcome, ClusterError> {
        self.wait_established_from(names, WaitStart::List, timeout, on_ready)
            .await
    }

    /// [`Self::wait_established`], starting where `start` says.
    pub async fn wait_established_from(
        &self,
        names: &BTreeSet<String>,
        start: WaitStart,
        timeout: Duration,
        on_ready: impl FnMut(&str),
    ) -> Result<WaitOutcome, ClusterError> {
        let mut pending = names.clone();
        if pending.is_empty() {
            return Ok(WaitOutcome { pending });
        }
        let stop = self.stop.clone();
        let result = {
            let mut waiter = Waiter {
                pending: &mut pending,
                on_ready,
            };
            let version = match start {
                WaitStart::List => None,
                WaitStart::After { version, ready } => {
                    for name in &ready {
                        waiter.ready(name);
                    }
                    Some(version)
                }
            };
            if waiter.pending.is_empty() {
                return Ok(WaitOutcome { pending });
            }
            let watching =
                tokio::time::timeout(timeout, self.watch_until_ready(&mut waiter, version));
            // A stop request ends the wait at once; what is still pending is reported as such.
            tokio::select! {
                result = watching => result,
                _ = stop.stopped() => Ok(Ok(())),
            }
        };
        match result {
            Ok(Err(e)) => Err(e),
            // Done, stopped, or timed out: whatever is still pending says which.
            Ok(Ok(())) | Err(_) => Ok(WaitOutcome { pending }),
        }
    }

    /// List, then watch from the list's version; a broken stream is resumed from the last
    /// version seen, an expired one listed again. Only a run of failures with no event in
    /// between ends the wait with an error.
    async fn watch_until_ready<F: FnMut(&str)>(
        &self,
        waiter: &mut Waiter<'_, F>,
        mut start: Option<String>,
    ) -> Result<(), ClusterError> {
        let mut failures = 0;
        'list: loop {
            let mut version = match start.take() {
                Some(version) => version,
                None => {
                    let (items, version) = self
                        .list_all_at(
                            "list CustomResourceDefinitions",
                            CRD_PATH,
                            "apiextensions.k8s.io/v1",
                            "CustomResourceDefinition",
                        )
                        .await?;
                    for crd in &items {
                        if waiter.see(crd) {
                            return Ok(());
                        }
                    }
                    version
                }
            };
            loop {
                let end = self.watch_once(&mut version, waiter, &mut failures).await?;
                match end {
                    StreamEnd::Done => return Ok(()),
                    StreamEnd::Closed => {}
                    StreamEnd::Expired => continue 'list,
                    StreamEnd::Broken(message) => {
                        failures += 1;
                        if failures > MAX_WATCH_FAILURES {
                            return Err(ClusterError::Other {
                                operation: "watch CustomResourceDefinitions".into(),
                                message: format!("{message} ({})", self.server),
                            });
                        }
                        tracing::debug!(failures, %message, "watch broke, resuming");
                        let backoff = FIRST_WATCH_BACKOFF * 2u32.pow(failures - 1);
                        if let Err(reason) =
                            self.stop.pause(backoff.min(Duration::from_secs(5))).await
                        {
                            return Err(ClusterError::Interrupted {
                                operation: "watch CustomResourceDefinitions".into(),
                                reason,
                            });
                        }
                    }
                }
            }
        }
    }

    /// The CRD collection's current resourceVersion, read with a list that selects nothing (a
    /// label no object carries, at most one item): where a wait for the CRDs about to be
    /// written starts ([`WaitStart::After`]).
    pub async fn crd_collection_version(&self) -> Result<String, ClusterError> {
        let params = kube::core::params::ListParams {
            label_selector: Some("crdguard.dev/selects-nothing".into()),
            limit: Some(1),
            ..Default::default()
        };
        let request = kube::core::Request::new(CRD_PATH).list(&params);
        let list = self
            .send("read the CustomResourceDefinitions' version", request)
            .await?;
        list.pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ClusterError::Other {
                operation: "read the CustomResourceDefinitions' version".into(),
                message: "the list has no resourceVersion".into(),
            })
    }

    /// One watch request from `version`, read until it ends. Events move `version` on.
    async fn watch_once<F: FnMut(&str)>(
        &self,
        version: &mut String,
        waiter: &mut Waiter<'_, F>,
        failures: &mut u32,
    ) -> Result<StreamEnd, ClusterError> {
        // The server ends the watch before the client's read timeout would call it broken.
        let seconds = (self.request_timeout.as_secs() / 2).clamp(1, 290);
        let params = kube::core::params::WatchParams {
            timeout: Some(u32::try_from(seconds).unwrap_or(290)),
            bookmarks: true,
            ..Default::default()
        };
        let request = kube::core::Request::new(CRD_PATH).watch(&params, version);
        let response = match self
            .open_stream("watch CustomResourceDefinitions", request)
            .await
        {
            Ok(response) => response,
            // A watch refused as too old is 410 Gone: list again.
            Err(ClusterError::Api { code: 410, .. }) => return Ok(StreamEnd::Expired),
            Err(e) if e.is_transient() => return Ok(StreamEnd::Broken(e.to_string())),
            Err(e) => return Err(e),
        };
        let mut frames = response.into_body().into_data_stream();
        let mut buffer: Vec<u8> = Vec::new();
        while let Some(frame) = frames.next().await {
            let chunk = match frame {
                Ok(chunk) => chunk,
                Err(e) => return Ok(StreamEnd::Broken(crate::error::chain(&e))),
            };
            buffer.extend_from_slice(&chunk);
            while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let event: Value = match serde_json::from_slice(&line) {
                    Ok(event) => event,
                    Err(e) => {
                        return Ok(StreamEnd::Broken(format!("watch event is not JSON: {e}")));
                    }
                };
                let object = &event["object"];
                match event["type"].as_str() {
                    Some("ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK") => {
                        *failures = 0;
                        if let Some(rv) = object
                            .pointer("/metadata/resourceVersion")
                            .and_then(Value::as_str)
                        {
                            *version = rv.to_string();
                        }
                        // A deleted CRD is not established, whatever its last status said.
                        let live = matches!(event["type"].as_str(), Some("ADDED" | "MODIFIED"));
                        if live && waiter.see(object) {
                            return Ok(StreamEnd::Done);
                        }
                    }
                    Some("ERROR") if object["code"] == 410 => return Ok(StreamEnd::Expired),
                    _ => {
                        return Ok(StreamEnd::Broken(format!(
                            "unexpected watch event: {}",
                            String::from_utf8_lossy(&line)
                                .chars()
                                .take(300)
                                .collect::<String>()
                        )));
                    }
                }
            }
            if buffer.len() > MAX_EVENT_BYTES {
                return Ok(StreamEnd::Broken("watch event too large".into()));
            }
        }
        Ok(StreamEnd::Closed)
    }
}
