//! Cluster errors, worded for people. Every one maps to exit code 3 but `Interrupted`, which
//! is a safe stop (exit 1).

/// A failure talking to the cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No usable kubeconfig / context.
    #[error("cannot load the cluster configuration: {0}")]
    Config(String),
    /// Network, TLS or authentication failure before any API answer.
    #[error("cannot reach the cluster at {server}: {message}")]
    Unreachable { server: String, message: String },
    /// The API answered with an error.
    #[error("{operation}: the API server answered {code} {reason}: {message}")]
    Api {
        operation: String,
        code: u16,
        reason: String,
        message: String,
        /// How long the server asked us to wait before trying again (`Retry-After`).
        retry_after: Option<std::time::Duration>,
    },
    #[error("{operation}: {message}")]
    Other { operation: String, message: String },
    /// The object changed after crdguard read it (or appeared, for a create); nothing was
    /// written. The caller observes again and decides again.
    #[error("{operation}: not written: {message}")]
    Stale { operation: String, message: String },
    #[error("timed out after {seconds}s waiting for {what}")]
    Timeout { what: String, seconds: u64 },
    /// Stopped on request (a signal) between two writes; nothing is half-done.
    #[error("{operation}: {reason}; run the same command again to resume")]
    Interrupted { operation: String, reason: String },
}

impl ClusterError {
    pub fn from_kube(operation: impl Into<String>, server: &str, error: kube::Error) -> Self {
        let operation = operation.into();
        match error {
            kube::Error::Api(status) => ClusterError::from_status(operation, &status, None),
            kube::Error::HyperError(e) => unreachable(server, &e),
            kube::Error::Service(e) => unreachable(server, e.as_ref()),
            kube::Error::RustlsTls(e) => unreachable(server, &e),
            kube::Error::Auth(e) => ClusterError::Unreachable {
                server: server.to_string(),
                message: format!("authentication failed: {}", chain(&e)),
            },
            kube::Error::InferConfig(e) => ClusterError::Config(chain(&e)),
            kube::Error::InferKubeconfig(e) => ClusterError::Config(chain(&e)),
            other => ClusterError::Other {
                operation,
                message: chain(&other),
            },
        }
    }

    /// An error answer of the API server, with a hint for the codes people can act on.
    pub fn api(
        operation: impl Into<String>,
        code: u16,
        reason: String,
        message: &str,
        retry_after: Option<std::time::Duration>,
    ) -> Self {
        ClusterError::Api {
            operation: operation.into(),
            code,
            reason,
            message: hint(code, message),
            retry_after,
        }
    }

    /// An error answer the API server wrote as a `Status`. `Retry-After` comes from the header
    /// when there is one, else from the Status details.
    pub fn from_status(
        operation: impl Into<String>,
        status: &kube::core::Status,
        header_retry_after: Option<std::time::Duration>,
    ) -> Self {
        let details_retry_after = status
            .details
            .as_ref()
            .map(|d| d.retry_after_seconds)
            .filter(|s| *s > 0)
            .map(|s| std::time::Duration::from_secs(u64::from(s)));
        ClusterError::api(
            operation,
            status.code,
            status.reason.clone(),
            &status.message,
            header_retry_after.or(details_retry_after),
        )
    }

    /// The wait the server asked for, if it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            ClusterError::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status of an API error.
    pub fn code(&self) -> Option<u16> {
        match self {
            ClusterError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Worth retrying: throttling, server errors, and connections that broke.
    pub fn is_transient(&self) -> bool {
        match self {
            ClusterError::Api { code, .. } => matches!(code, 429 | 500 | 502 | 503 | 504),
            ClusterError::Unreachable { message, .. } => {
                !message.contains("certificate") && !message.contains("authentication")
            }
            _ => false,
        }
    }
}

fn unreachable(server: &str, error: &(dyn std::error::Error + 'static)) -> ClusterError {
    ClusterError::Unreachable {
        server: server.to_string(),
        message: chain(error),
    }
}

fn hint(code: u16, message: &str) -> String {
    match code {
        401 => format!(
            "{message} (the credentials were rejected: check the kubeconfig user, token or certificate)"
        ),
        403 => format!(
            "{message} (missing RBAC permission; `crdguard rbac` prints what crdguard needs, with `--migrate-crd NAME` for the objects a storage migration rewrites and `--guard` for the guard)"
        ),
        _ => message.to_string(),
    }
}

/// An error with its sources, deduplicated, on one line.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}
