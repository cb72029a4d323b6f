//! Downloading one file: URL policy on every hop, bounded retries, one overall deadline, a size
//! cap. Knows nothing about releases; [`crate::fetch()`] turns its errors into [`FetchError`]s.
//!
//! [`FetchError`]: crate::FetchError

use std::thread;
use std::time::{Duration, Instant};

use ureq::http::{StatusCode, header};
use ureq::tls::{RootCerts, TlsConfig, TlsProvider};
use ureq::{Agent, Timeout};

use crate::error::one_line;
use crate::options::{FetchOptions, TlsRoots};
use crate::url::{self, CheckedUrl};

/// Redirects followed per attempt. GitHub needs one (to its object storage).
const MAX_REDIRECTS: usize = 5;

/// Upper bound on the configurable overall time limit.
const MAX_TOTAL_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

const USER_AGENT: &str = concat!("crdguard/", env!("CARGO_PKG_VERSION"));

/// Why a download failed. URLs in here are safe to print (queries of redirect targets removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DownloadError {
    /// The URL policy refused `url` (the requested URL or a redirect target).
    Refused {
        url: String,
        reason: String,
    },
    Network {
        message: String,
        attempts: u32,
    },
    Status {
        status: u16,
        attempts: u32,
    },
    TooLarge {
        limit: u64,
    },
}

/// One attempt's failure, and whether another attempt might succeed.
struct Failure {
    error: DownloadError,
    retryable: bool,
}

impl Failure {
    fn fatal(error: DownloadError) -> Self {
        Failure {
            error,
            retryable: false,
        }
    }

    fn network(message: impl std::fmt::Display, retryable: bool) -> Self {
        Failure {
            error: DownloadError::Network {
                message: one_line(message),
                attempts: 1,
            },
            retryable,
        }
    }
}

/// GETs `url` and returns the body, following redirects that pass the URL policy.
pub(crate) fn download(url: &str, options: &FetchOptions) -> Result<Vec<u8>, DownloadError> {
    // Checked before the agent exists: a refused URL costs nothing and touches no socket.
    let first = url::check(url).map_err(|reason| DownloadError::Refused {
        url: url.to_string(),
        reason,
    })?;
    // Clamped so that adding it to now cannot overflow, whatever the caller configured.
    let deadline = Instant::now() + options.total_timeout.min(MAX_TOTAL_TIMEOUT);
    let agent = agent(options);
    let mut attempt = 1;
    loop {
        let failure = match attempt_once(&agent, first.clone(), options, deadline) {
            Ok(body) => return Ok(body),
            Err(failure) => failure,
        };
        let pause = options.retry.pause_after(attempt, None);
        let time_left = deadline.saturating_duration_since(Instant::now());
        if !failure.retryable || !options.retry.retries_after(attempt) || pause >= time_left {
            return Err(with_attempts(failure.error, attempt));
        }
        thread::sleep(pause);
        attempt += 1;
    }
}

fn with_attempts(error: DownloadError, attempts: u32) -> DownloadError {
    match error {
        DownloadError::Network { message, .. } => DownloadError::Network { message, attempts },
        DownloadError::Status { status, .. } => DownloadError::Status { status, attempts },
        other => other,
    }
}

fn agent(options: &FetchOptions) -> Agent {
    let roots = match options.tls_roots {
        TlsRoots::Bundled => RootCerts::WebPki,
        TlsRoots::System => RootCerts::PlatformVerifier,
    };
    let tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .root_certs(roots)
        .build();
    Agent::config_builder()
        .tls_config(tls)
        // Statuses and redirects are handled here: every hop must pass the URL policy.
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(options.connect_timeout))
        .user_agent(USER_AGENT)
        .build()
        .new_agent()
}

/// One attempt: the request and any redirects, within what is left of the deadline.
fn attempt_once(
    agent: &Agent,
    first: CheckedUrl,
    options: &FetchOptions,
    deadline: Instant,
) -> Result<Vec<u8>, Failure> {
    let mut target = first;
    for _ in 0..=MAX_REDIRECTS {
        let tls = target.uri.scheme_str() == Some("https");
        let time_left = deadline.saturating_duration_since(Instant::now());
        if time_left.is_zero() {
            return Err(Failure::network(
                "timed out (the overall time limit ran out)",
                false,
            ));
        }
        let request = agent
            .get(&target.uri)
            .config()
            .timeout_global(Some(time_left));
        // The proxy from the environment (HTTPS_PROXY, …) applies to real hosts only: a
        // loopback server is on this machine, where a proxy cannot reach it.
        let request = if target.loopback {
            request.proxy(None)
        } else {
            request
        };
        let mut response = request
            .build()
            .call()
            .map_err(|e| transport_failure(e, tls))?;
        let status = response.status();
        if status.is_redirection()
            && let Some(location) = response.headers().get(header::LOCATION)
        {
            let location = location.to_str().map_err(|_| {
                Failure::network(format!("HTTP {status} with an unreadable location"), false)
            })?;
            let next = url::resolve_location(&target.uri, location)
                .map_err(|reason| Failure::network(reason, false))?;
            target = url::check(&next).map_err(|reason| {
                Failure::fatal(DownloadError::Refused {
                    url: format!("redirect to {}", url::without_query(&next)),
                    reason,
                })
            })?;
            continue;
        }
        if !status.is_success() {
            return Err(Failure {
                error: DownloadError::Status {
                    status: status.as_u16(),
                    attempts: 1,
                },
                retryable: status.is_server_error()
                    || status == StatusCode::TOO_MANY_REQUESTS
                    || status == StatusCode::REQUEST_TIMEOUT,
            });
        }
        let too_large = Failure::fatal(DownloadError::TooLarge {
            limit: options.max_bytes,
        });
        // Refuse early when the server announces the size; the read limit catches the rest.
        if response
            .body()
            .content_length()
            .is_some_and(|length| length > options.max_bytes)
        {
            return Err(too_large);
        }
        return response
            .body_mut()
            .with_config()
            .limit(options.max_bytes)
            .read_to_vec()
            .map_err(|error| match error {
                ureq::Error::BodyExceedsLimit(_) => too_large,
                other => transport_failure(other, tls),
            });
    }
    Err(Failure::network(
        format!("more than {MAX_REDIRECTS} redirects"),
        false,
    ))
}

/// Describes a transport error and decides whether retrying could help: refused or dropped
/// connections and connect timeouts are often transient; DNS, TLS and protocol errors, and
/// running out of the overall time, are not.
fn transport_failure(error: ureq::Error, tls: bool) -> Failure {
    use std::io::ErrorKind;
    match &error {
        // rustls reports handshake and certificate failures as invalid data.
        ureq::Error::Io(io) if tls && io.kind() == ErrorKind::InvalidData => {
            Failure::network(format!("TLS failed: {io}"), false)
        }
        ureq::Error::Io(io) => {
            let retryable = matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::NotConnected
                    | ErrorKind::BrokenPipe
                    | ErrorKind::TimedOut
                    | ErrorKind::UnexpectedEof
                    | ErrorKind::Interrupted
            );
            Failure::network(describe_io(io), retryable)
        }
        ureq::Error::ConnectionFailed => Failure::network("connection failed", true),
        ureq::Error::HostNotFound => Failure::network("host not found", false),
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => {
            Failure::network(format!("TLS failed: {error}"), false)
        }
        ureq::Error::Timeout(Timeout::Connect | Timeout::Resolve) => {
            Failure::network(format!("{error}"), true)
        }
        ureq::Error::Timeout(Timeout::Global) => {
            Failure::network("timed out (the overall time limit ran out)", false)
        }
        ureq::Error::Timeout(_) => Failure::network(format!("{error}"), false),
        _ => Failure::network(format!("{error}"), false),
    }
}

fn describe_io(error: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::ConnectionRefused => "connection refused".to_string(),
        ErrorKind::ConnectionReset => "connection reset".to_string(),
        ErrorKind::UnexpectedEof => {
            "connection closed before the response was complete".to_string()
        }
        _ => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_urls_fail_before_any_attempt() {
        let started = Instant::now();
        let err = download("http://192.0.2.1/x.yaml", &FetchOptions::default()).unwrap_err();
        assert!(matches!(err, DownloadError::Refused { .. }), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
