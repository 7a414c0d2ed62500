//! Waiting in tests without bare sleeps: poll a probe until it answers (with a
//! deadline that fails the test, saying what never happened), or check that a
//! condition keeps holding for a while (for "nothing happens" assertions).

use std::future::Future;
use std::time::{Duration, Instant};

/// How often probes run.
const EVERY: Duration = Duration::from_millis(20);

/// Polls `probe` until it returns `Some`, at most `timeout`; panics naming
/// `what` otherwise.
pub async fn until<T, F, Fut>(timeout: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        tokio::time::sleep(EVERY).await;
    }
}

/// Checks `condition` again and again for `period`; panics naming `what` the
/// first time it does not hold.
pub async fn holds<F, Fut>(period: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = Instant::now() + period;
    loop {
        assert!(condition().await, "{what}: stopped holding");
        if Instant::now() >= end {
            return;
        }
        tokio::time::sleep(EVERY).await;
    }
}
