//! Bounded retries with exponential backoff for transient API failures.

use std::future::Future;
use std::time::Duration;

use crate::ClusterError;

const ATTEMPTS: u32 = 5;
const FIRST_DELAY: Duration = Duration::from_millis(200);
const MAX_DELAY: Duration = Duration::from_secs(5);

/// Runs `call` until it succeeds, fails permanently, or `ATTEMPTS` tries are used up.
pub async fn with_retries<T, F, Fut>(mut call: F) -> Result<T, ClusterError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClusterError>>,
{
    let mut delay = FIRST_DELAY;
    let mut attempt = 1;
    loop {
        match call().await {
            Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                tracing::debug!(attempt, error = %e, "transient failure, retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_DELAY);
                attempt += 1;
            }
            other => return other,
        }
    }
}
