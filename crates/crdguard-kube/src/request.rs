//! Sending one request: JSON in and out, bounded retries on transient failures, errors named
//! after the operation. Every call to the API server goes through here.
//!
//! The raw response is read here rather than through `kube::Client::request`, because an error
//! answer's `Retry-After` header (429 from API priority and fairness, 503 from a restarting
//! server) is only visible on the response, and retries must honour it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::retry::with_retries;
use crate::{Cluster, ClusterError};

/// Every logical request carries an id (`<pid>-<sequence>`) and its attempt number, so that a
/// proxy, a packet capture or a test can tell crdguard's retry of a request from another
/// request to the same path (the observation's list and a watch's list, say).
pub const REQUEST_ID_HEADER: &str = "x-crdguard-request";
pub const ATTEMPT_HEADER: &str = "x-crdguard-attempt";

static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

fn next_request_id() -> String {
    let sequence = NEXT_REQUEST.fetch_add(1, Ordering::Relaxed);
    format!("{}-{sequence}", std::process::id())
}

/// A request as kube-core's [`kube::core::Request`] builds it (path, query parameters and
/// their encoding, content type, body), or why it could not be built.
pub(crate) type Built = Result<http::Request<Vec<u8>>, kube::core::request::Error>;

/// A GET of a path that is neither a collection nor an object (`/version`, a discovery
/// document, a namespace of the core API).
pub(crate) fn get_path(path: &str) -> Built {
    http::Request::get(path)
        .body(Vec::new())
        .map_err(kube::core::request::Error::BuildRequest)
}

/// A JSON body for kube-core's `create` and `replace`, which take bytes.
pub(crate) fn json_body(value: &Value) -> Result<Vec<u8>, kube::core::request::Error> {
    serde_json::to_vec(value).map_err(kube::core::request::Error::SerializeBody)
}

/// One request, as `open` sends it (again, on a retry).
struct Outgoing<'a> {
    operation: &'a str,
    parts: http::request::Parts,
    body: Vec<u8>,
    id: String,
}

impl Cluster {
    /// Sends `request` (bounded retries on transient failures) and parses the answer as JSON.
    pub(crate) async fn send(
        &self,
        operation: &str,
        request: Built,
    ) -> Result<Value, ClusterError> {
        let other = |message: String| ClusterError::Other {
            operation: operation.to_string(),
            message,
        };
        let outgoing = self.outgoing(operation, request)?;
        let outgoing = &outgoing;
        with_retries(&self.stop, |attempt| async move {
            let response = self.open(outgoing, attempt).await?;
            // A body cut off mid-way is a broken connection: transient, like any other.
            let body = response
                .into_body()
                .collect_bytes()
                .await
                .map_err(|e| ClusterError::from_kube(operation, &self.server, e))?;
            serde_json::from_slice(&body).map_err(|e| {
                other(format!(
                    "the API server's answer is not JSON ({e}); is the server address right?"
                ))
            })
        })
        .await
    }

    /// A streaming GET (a watch): the response once its status says success, with the same
    /// bounded retries as `send` for opening it. Reading the stream is the caller's.
    pub(crate) async fn open_stream(
        &self,
        operation: &str,
        request: Built,
    ) -> Result<http::Response<kube::client::Body>, ClusterError> {
        let outgoing = self.outgoing(operation, request)?;
        with_retries(&self.stop, |attempt| self.open(&outgoing, attempt)).await
    }

    fn outgoing<'a>(
        &self,
        operation: &'a str,
        request: Built,
    ) -> Result<Outgoing<'a>, ClusterError> {
        let (parts, body) = request
            .map_err(|e| ClusterError::Other {
                operation: operation.to_string(),
                message: e.to_string(),
            })?
            .into_parts();
        Ok(Outgoing {
            operation,
            parts,
            body,
            id: next_request_id(),
        })
    }

    /// One attempt: sends the request and turns an error status into a `ClusterError` that
    /// keeps the server's `Retry-After`.
    async fn open(
        &self,
        outgoing: &Outgoing<'_>,
        attempt: u32,
    ) -> Result<http::Response<kube::client::Body>, ClusterError> {
        let operation = outgoing.operation;
        let mut request = http::Request::new(kube::client::Body::from(outgoing.body.clone()));
        *request.method_mut() = outgoing.parts.method.clone();
        *request.uri_mut() = outgoing.parts.uri.clone();
        *request.headers_mut() = outgoing.parts.headers.clone();
        let headers = request.headers_mut();
        if !headers.contains_key(http::header::CONTENT_TYPE) {
            headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
        }
        let tag = |text: &str| {
            http::HeaderValue::from_str(text).map_err(|e| ClusterError::Other {
                operation: operation.to_string(),
                message: e.to_string(),
            })
        };
        headers.insert(REQUEST_ID_HEADER, tag(&outgoing.id)?);
        headers.insert(ATTEMPT_HEADER, tag(&attempt.to_string())?);
        let kube_error = |e| ClusterError::from_kube(operation, &self.server, e);
        let response = self.client.send(request).await.map_err(kube_error)?;
        let status = response.status();
        if !(status.is_client_error() || status.is_server_error()) {
            return Ok(response);
        }
        let retry_after = retry_after_header(response.headers());
        let body = response
            .into_body()
            .collect_bytes()
            .await
            .map_err(kube_error)?;
        Err(api_error(operation, status, &body, retry_after))
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
