//! The Secret Helm stores a release in (`sh.helm.release.v1.<release>.v<N>`): its size, which
//! Kubernetes refuses above 1 MiB, so that `crdguard install` can report it (SPEC §6 v2).

use kube::core::Request;
use kube::core::params::ListParams;
use serde_json::Value;

use crate::{Cluster, ClusterError};

/// The newest release Secret of a Helm release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseSecret {
    pub name: String,
    /// The bytes Kubernetes counts for it: `data.release` decoded (Helm's own base64 of the
    /// gzipped release, chart included).
    pub bytes: u64,
}

impl Cluster {
    /// The newest release Secret of `release` in `namespace`; `None` when there is none, or
    /// when these credentials may not list Secrets there (the size is then unknown, which is
    /// no reason to fail an install that succeeded).
    pub async fn helm_release_secret(
        &self,
        release: &str,
        namespace: &str,
    ) -> Result<Option<ReleaseSecret>, ClusterError> {
        let params = ListParams {
            label_selector: Some(format!("owner=helm,name={release}")),
            ..Default::default()
        };
        let request = Request::new(format!("/api/v1/namespaces/{namespace}/secrets")).list(&params);
        let list = match self
            .send(&format!("list the release Secrets of {release}"), request)
            .await
        {
            Ok(list) => list,
            Err(e) if matches!(e.code(), Some(401 | 403 | 404)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let newest = list
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .max_by_key(|secret| {
                secret
                    .pointer("/metadata/labels/version")
                    .and_then(Value::as_str)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            });
        Ok(newest.map(|secret| ReleaseSecret {
            name: secret
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            bytes: secret
                .pointer("/data/release")
                .and_then(Value::as_str)
                .map_or(0, decoded_len),
        }))
    }
}

/// The length of what base64 `text` decodes to.
fn decoded_len(text: &str) -> u64 {
    let padding = text.bytes().rev().take_while(|b| *b == b'=').count();
    (text.len() / 4 * 3).saturating_sub(padding) as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn decoded_length_of_base64() {
        for (text, len) in [
            ("", 0),
            ("YQ==", 1),
            ("YWI=", 2),
            ("YWJj", 3),
            ("YWJjZA==", 4),
        ] {
            assert_eq!(super::decoded_len(text), len, "{text}");
        }
    }
}
