//! Holds a tenant-quota refusal (429) for a moment before it is answered: a
//! client that posts again as soon as it is refused, whatever `Retry-After`
//! says, is slowed to one attempt per hold on each of its connections instead
//! of costing the gateway (and the machine) thousands of refusals a second. A
//! client that honours `Retry-After` waits that long anyway and loses nothing.
//! Each held answer is a timer on the connection's own task; a bound on the
//! answers held at once keeps a tenant opening connections without end from
//! holding the gateway's memory (past it, refusals are answered at once).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

/// Most refusals one gateway instance holds at once.
pub(crate) const MAX_HELD: usize = 1024;

#[derive(Debug, Clone)]
pub(crate) struct RefusalDelay {
    hold: Duration,
    slots: Arc<Semaphore>,
}

impl RefusalDelay {
    /// Holds refusals `hold_ms` (0: answer at once).
    pub(crate) fn new(hold_ms: u64) -> Self {
        Self {
            hold: Duration::from_millis(hold_ms),
            slots: Arc::new(Semaphore::new(MAX_HELD)),
        }
    }

    /// How long a refusal whose `Retry-After` is `retry_after` is held: the
    /// hold, never past `retry_after`.
    fn hold_for(&self, retry_after: Duration) -> Duration {
        self.hold.min(retry_after)
    }

    /// Waits before a refusal whose `Retry-After` is `retry_after` is answered
    /// (`hold_for`). False when it did not wait (off, or `MAX_HELD` refusals
    /// already held).
    pub(crate) async fn hold(&self, retry_after: Duration) -> bool {
        let hold = self.hold_for(retry_after);
        if hold.is_zero() {
            return false;
        }
        let Ok(_slot) = self.slots.try_acquire() else {
            return false;
        };
        tokio::time::sleep(hold).await;
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn the_hold_never_passes_retry_after() {
        let delay = RefusalDelay::new(500);
        assert_eq!(
            delay.hold_for(Duration::from_secs(1)),
            Duration::from_millis(500)
        );
        assert_eq!(
            delay.hold_for(Duration::from_millis(200)),
            Duration::from_millis(200)
        );
        assert_eq!(
            RefusalDelay::new(0).hold_for(Duration::from_secs(1)),
            Duration::ZERO
        );
    }

    #[tokio::test]
    async fn a_held_refusal_waits_its_hold() {
        let started = Instant::now();
        assert!(RefusalDelay::new(30).hold(Duration::from_secs(1)).await);
        assert!(started.elapsed() >= Duration::from_millis(30));
    }

    #[tokio::test]
    async fn off_or_past_the_bound_refusals_are_answered_at_once() {
        assert!(!RefusalDelay::new(0).hold(Duration::from_secs(1)).await);
        let delay = RefusalDelay::new(1);
        let all = delay
            .slots
            .clone()
            .try_acquire_many_owned(MAX_HELD as u32)
            .unwrap();
        // Every slot taken: answered at once, not held.
        assert!(!delay.hold(Duration::from_secs(3600)).await);
        drop(all);
        assert!(delay.hold(Duration::from_secs(1)).await);
    }
}
