//! Stopping cleanly when asked (SIGINT, SIGTERM): requests in flight finish, no new write
//! starts, retries and waits end early, and the report says what was written and what was not.
//! Every write crdguard makes is idempotent, so running the same command again resumes where
//! this one stopped.

use std::sync::Arc;

use tokio::sync::watch;

/// Shared by the signal handler (which requests the stop) and the write loops, retries and
/// waits (which check it, or wait for it).
#[derive(Debug, Clone)]
pub struct StopSignal(Arc<watch::Sender<Option<String>>>);

impl Default for StopSignal {
    fn default() -> Self {
        StopSignal(Arc::new(watch::Sender::new(None)))
    }
}

impl StopSignal {
    /// Asks everything to stop; `reason` says why ("interrupted by SIGTERM"). The first reason
    /// is kept.
    pub fn request(&self, reason: impl Into<String>) {
        let reason = reason.into();
        self.0.send_if_modified(|slot| {
            if slot.is_none() {
                *slot = Some(reason);
                true
            } else {
                false
            }
        });
    }

    /// The reason, once a stop was requested.
    pub fn requested(&self) -> Option<String> {
        self.0.borrow().clone()
    }

    /// Waits `duration` unless a stop is requested first; then `Err` with its reason. Every
    /// pause between tries (transport retries, write conflicts, deciding again) goes through
    /// here, so a stop never waits out a back-off.
    pub async fn pause(&self, duration: std::time::Duration) -> Result<(), String> {
        tokio::select! {
            () = tokio::time::sleep(duration) => Ok(()),
            reason = self.stopped() => Err(reason),
        }
    }

    /// Completes when a stop is requested, with its reason; never, if none is.
    pub async fn stopped(&self) -> String {
        let mut receiver = self.0.subscribe();
        loop {
            if let Some(reason) = receiver.borrow_and_update().clone() {
                return reason;
            }
            if receiver.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn the_first_reason_is_kept_and_waiters_wake() {
        let stop = StopSignal::default();
        let seen_by_writer = stop.clone();
        assert_eq!(seen_by_writer.requested(), None);
        let waiter = tokio::spawn({
            let stop = stop.clone();
            async move { stop.stopped().await }
        });
        stop.request("interrupted by SIGINT");
        stop.request("interrupted by SIGTERM");
        assert_eq!(
            seen_by_writer.requested().as_deref(),
            Some("interrupted by SIGINT")
        );
        assert_eq!(waiter.await.unwrap(), "interrupted by SIGINT");
        // Already stopped: completes at once.
        assert_eq!(stop.stopped().await, "interrupted by SIGINT");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_pause_ends_early_on_a_stop_and_runs_out_otherwise() {
        let stop = StopSignal::default();
        assert_eq!(
            stop.pause(std::time::Duration::from_millis(50)).await,
            Ok(())
        );
        let pausing = tokio::spawn({
            let stop = stop.clone();
            async move { stop.pause(std::time::Duration::from_secs(3600)).await }
        });
        tokio::task::yield_now().await;
        stop.request("interrupted by SIGTERM");
        assert_eq!(
            pausing.await.unwrap(),
            Err("interrupted by SIGTERM".to_string())
        );
    }
}
