//! Sending one request: JSON in and out, bounded retries on transient failures, errors named
//! after the operation. Every call to the API server goes through here.
//!
//! The raw response is read here rather than through `kube::Client::request`, because an error
//! answer's `Retry-After` header (429 from API priority and fairness, 503 from a restarting
//! server) is only visible on the response, and retries must honour it.

use std::time::Duration;

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
        with_retries(&self.stop, || async {
            let request = http::Request::builder()
                .method(method.clone())
                .uri(path)
                .header(http::header::CONTENT_TYPE, content_type)
                .body(kube::client::Body::from(bytes.clone()))
                .map_err(|e| other(e.to_string()))?;
            let kube_error = |e| ClusterError::from_kube(operation, &self.server, e);
            let response = self.client.send(request).await.map_err(kube_error)?;
            let status = response.status();
            let retry_after = retry_after_header(response.headers());
            // A body cut off mid-way is a broken connection: transient, like any other.
            let body = response
                .into_body()
                .collect_bytes()
                .await
                .map_err(kube_error)?;
            if status.is_client_error() || status.is_server_error() {
                return Err(api_error(operation, status, &body, retry_after));
            }
            serde_json::from_slice(&body).map_err(|e| {
                other(format!(
                    "the API server's answer is not JSON ({e}); is the server address right?"
                ))
            })
        })
        .await
    }
}

/// `Retry-After` in seconds (the form Kubernetes sends; HTTP dates are not used by it).
fn retry_after_header(headers: &http::HeaderMap) -> Option<Duration> {
    let text = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    text.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// An error answer: a `Status` object when the API server wrote it, plain text when a proxy or
/// a filter did (the 429 of max-in-flight is plain text).
fn api_error(
    operation: &str,
    status: http::StatusCode,
    body: &[u8],
    header_retry_after: Option<Duration>,
) -> ClusterError {
    if let Ok(parsed) = serde_json::from_slice::<kube::core::Status>(body) {
        // The HTTP status is authoritative; a Status body may leave `code` out.
        let parsed = kube::core::Status {
            code: status.as_u16(),
            ..parsed
        };
        return ClusterError::from_status(operation, &parsed, header_retry_after);
    }
    let text = String::from_utf8_lossy(body);
    let text: String = text.trim().chars().take(300).collect();
    ClusterError::api(
        operation,
        status.as_u16(),
        status.canonical_reason().unwrap_or("").to_string(),
        &text,
        header_retry_after,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_comes_from_the_header_or_the_status_details() {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after_header(&headers), Some(Duration::from_secs(3)));
        headers.insert(
            http::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after_header(&headers), None);

        let status = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"storage is (re)initializing","reason":"TooManyRequests","details":{"retryAfterSeconds":2},"code":429}"#;
        let error = api_error("apply x", http::StatusCode::TOO_MANY_REQUESTS, status, None);
        assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));
        assert!(error.is_transient());
        assert!(error.to_string().contains("storage is (re)initializing"));

        let plain = b"Too many requests, please try again later.\n";
        let error = api_error(
            "apply x",
            http::StatusCode::TOO_MANY_REQUESTS,
            plain,
            Some(Duration::from_secs(1)),
        );
        assert_eq!(error.retry_after(), Some(Duration::from_secs(1)));
        assert!(error.to_string().contains("429 Too Many Requests"));
    }

    #[test]
    fn conflicts_and_client_errors_are_not_retried() {
        for code in [400, 401, 403, 404, 409, 422] {
            let status = http::StatusCode::from_u16(code).unwrap();
            assert!(
                !api_error("x", status, b"{}", None).is_transient(),
                "{code}"
            );
        }
        for code in [429, 500, 502, 503, 504] {
            let status = http::StatusCode::from_u16(code).unwrap();
            assert!(api_error("x", status, b"", None).is_transient(), "{code}");
        }
    }
}
