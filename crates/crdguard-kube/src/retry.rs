//! Bounded retries for transient API failures, by the one retry policy
//! ([`RetryPolicy::API`]): at most 5 tries per request, pauses doubling from 0.2 s to 5 s, a
//! server's `Retry-After` honoured up to 30 s. The worst case for one request is therefore
//! bounded: 4 pauses of at most 30 s. A stop request ends the pause at once.

use std::future::Future;

use crdguard_core::retry::RetryPolicy;

use crate::{ClusterError, StopSignal};

const POLICY: RetryPolicy = RetryPolicy::API;

/// Runs `call` until it succeeds, fails permanently, or the policy's tries are used up. A stop
/// request ends the retries: the failure is returned as `Interrupted`. `call` gets the attempt
/// number (1, 2, …), which requests carry so that a proxy or a server log can tell a retry from
/// another caller's request.
///
/// The pause is counted from the moment `call` returned, that is from the arrival of the failed
/// response (its body included), never from when the request was sent.
pub async fn with_retries<T, F, Fut>(stop: &StopSignal, mut call: F) -> Result<T, ClusterError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, ClusterError>>,
{
    let mut attempt = 1;
    loop {
        match call(attempt).await {
            Err(e) if e.is_transient() && POLICY.retries_after(attempt) => {
                let wait = POLICY.pause_after(attempt, e.retry_after());
                tracing::debug!(attempt, ?wait, error = %e, "transient failure, retrying");
                if let Err(reason) = stop.pause(wait).await {
                    return Err(ClusterError::Interrupted {
                        operation: format!("retrying after: {e}"),
                        reason,
                    });
                }
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

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
        assert_eq!(calls.load(Ordering::SeqCst), POLICY.attempts);

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
