//! Sending one request: JSON in and out, bounded retries on transient failures, errors named
//! after the operation. Every call to the API server goes through here.

use serde_json::Value;

use crate::retry::with_retries;
use crate::{Cluster, ClusterError};

impl Cluster {
    /// `method path` with an optional JSON body of `content_type`; the answer parsed as JSON.
    pub(crate) async fn send(
        &self,
        operation: &str,
        method: http::Method,
        path: &str,
        content_type: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClusterError> {
        let other = |message: String| ClusterError::Other {
            operation: operation.to_string(),
            message,
        };
        let bytes = match body {
            Some(body) => serde_json::to_vec(body).map_err(|e| other(e.to_string()))?,
            None => Vec::new(),
        };
        with_retries(|| async {
            let request = http::Request::builder()
                .method(method.clone())
                .uri(path)
                .header(http::header::CONTENT_TYPE, content_type)
                .body(bytes.clone())
                .map_err(|e| other(e.to_string()))?;
            self.client
                .request::<Value>(request)
                .await
                .map_err(|e| ClusterError::from_kube(operation, &self.server, e))
        })
        .await
    }
}
