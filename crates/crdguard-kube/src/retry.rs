//! Bounded retries with exponential backoff for transient API failures.
//!
//! At most `ATTEMPTS` tries per request. The wait between tries doubles from `FIRST_DELAY` up
//! to `MAX_DELAY`; when the server answers with `Retry-After`, that wait is honoured (capped at
//! `MAX_RETRY_AFTER`, so a hostile or confused server cannot park crdguard for hours). The worst
//! case for one request is therefore bounded: 4 waits of at most 30 s.

use std::future::Future;
use std::time::Duration;

use crate::{ClusterError, StopSignal};

const ATTEMPTS: u32 = 5;
const FIRST_DELAY: Duration = Duration::from_millis(200);
const MAX_DELAY: Duration = Duration::from_secs(5);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Runs `call` until it succeeds, fails permanently, or `ATTEMPTS` tries are used up. A stop
/// request ends the retries: the failure is returned as `Interrupted`. `call` gets the attempt
/// number (1, 2, …), which requests carry so that a proxy or a server log can tell a retry from
/// another caller's request.
///
/// The wait is counted from the moment `call` returned, that is from the arrival of the failed
/// response (its body included), never from when the request was sent.
pub async fn with_retries<T, F, Fut>(stop: &StopSignal, mut call: F) -> Result<T, ClusterError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, ClusterError>>,
{
    let mut backoff = FIRST_DELAY;
    let mut attempt = 1;
    loop {
        match call(attempt).await {
            Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                let wait = wait_before_retry(backoff, e.retry_after());
                tracing::debug!(attempt, ?wait, error = %e, "transient failure, retrying");
                if let Err(reason) = stop.pause(wait).await {
                    return Err(ClusterError::Interrupted {
                        operation: format!("retrying after: {e}"),
                        reason,
                    });
                }
                backoff = (backoff * 2).min(MAX_DELAY);
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// The server's `Retry-After` when it gave one (never shorter than our own backoff, never longer
/// than `MAX_RETRY_AFTER`), else the backoff.
fn wait_before_retry(backoff: Duration, retry_after: Option<Duration>) -> Duration {
    match retry_after {
        Some(asked) => asked.min(MAX_RETRY_AFTER).max(backoff),
        None => backoff,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn retry_after_is_honoured_within_a_bound() {
        let backoff = Duration::from_millis(200);
        assert_eq!(wait_before_retry(backoff, None), backoff);
        assert_eq!(
            wait_before_retry(backoff, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            wait_before_retry(backoff, Some(Duration::from_secs(3600))),
            MAX_RETRY_AFTER
        );
        assert_eq!(wait_before_retry(backoff, Some(Duration::ZERO)), backoff);
    }

    fn unavailable() -> ClusterError {
        ClusterError::api("get x", 503, "ServiceUnavailable".into(), "down", None)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn attempts_are_bounded_and_permanent_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = with_retries(&StopSignal::default(), |_| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(unavailable())
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), ATTEMPTS);

        let calls = AtomicU32::new(0);
        let result: Result<(), _> = with_retries(&StopSignal::default(), |_| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(ClusterError::api(
                "apply x",
                409,
                "Conflict".into(),
                "owned",
                None,
            ))
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let calls = AtomicU32::new(0);
        let result = with_retries(&StopSignal::default(), |_| async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(unavailable())
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(result.ok(), Some(7));
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let stop = StopSignal::default();
        stop.request("interrupted by SIGTERM");
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = with_retries(&stop, |_| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(unavailable())
        })
        .await;
        assert!(matches!(result, Err(ClusterError::Interrupted { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
