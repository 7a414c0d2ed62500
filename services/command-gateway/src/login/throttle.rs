//! Failed logins are limited per (tenant, email) and per client address: past
//! the limit within the window, 429 + `Retry-After` until the oldest failure
//! leaves it. In memory, per gateway instance (N instances allow N times the
//! limit; a shared store would be needed to make it global).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys tracked at most before expired ones are dropped.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug)]
pub(crate) struct Throttle {
    per_account: usize,
    per_address: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// The two keys of one attempt.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    pub(crate) account: String,
    pub(crate) address: String,
}

impl Throttle {
    pub(crate) fn new(per_account: usize, per_address: usize, window: Duration) -> Throttle {
        Throttle {
            per_account,
            per_address,
            window,
            failures: Mutex::default(),
        }
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Err(retry after)` when either key has used up its failures.
    pub(crate) fn check(&self, keys: &Keys) -> Result<(), Duration> {
        let now = Instant::now();
        let mut failures = self.failures();
        let mut wait = Duration::ZERO;
        for (key, limit) in [
            (&keys.account, self.per_account),
            (&keys.address, self.per_address),
        ] {
            if let Some(times) = failures.get_mut(key) {
                while times.front().is_some_and(|t| now - *t >= self.window) {
                    times.pop_front();
                }
                if times.len() >= limit {
                    let oldest = *times.front().expect("limit is at least 1");
                    wait = wait.max(self.window - (now - oldest));
                }
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(wait)
        }
    }

    pub(crate) fn failed(&self, keys: &Keys) {
        let now = Instant::now();
        let mut failures = self.failures();
        if failures.len() > PRUNE_ABOVE {
            let window = self.window;
            failures.retain(|_, times| times.back().is_some_and(|t| now - *t < window));
        }
        for key in [&keys.account, &keys.address] {
            failures.entry(key.clone()).or_default().push_back(now);
        }
    }

    /// A successful login clears its account's failures (not its address's).
    pub(crate) fn succeeded(&self, keys: &Keys) {
        self.failures().remove(&keys.account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(account: &str, address: &str) -> Keys {
        Keys {
            account: account.into(),
            address: address.into(),
        }
    }

    #[test]
    fn the_failure_past_the_limit_waits_for_the_oldest_to_leave_the_window() {
        let throttle = Throttle::new(5, 20, Duration::from_secs(60));
        let sam = keys("t/sam", "10.0.0.1");
        for _ in 0..5 {
            assert!(throttle.check(&sam).is_ok());
            throttle.failed(&sam);
        }
        let wait = throttle.check(&sam).unwrap_err();
        assert!(wait > Duration::from_secs(55) && wait <= Duration::from_secs(60));
        // Another account from another address is not affected.
        assert!(throttle.check(&keys("t/alex", "10.0.0.2")).is_ok());
        throttle.succeeded(&sam);
        assert!(throttle.check(&sam).is_ok(), "a success clears the account");
    }

    #[test]
    fn one_address_trying_many_accounts_is_limited_too() {
        let throttle = Throttle::new(5, 3, Duration::from_secs(60));
        for n in 0..3 {
            throttle.failed(&keys(&format!("t/user{n}"), "10.0.0.9"));
        }
        assert!(throttle.check(&keys("t/user9", "10.0.0.9")).is_err());
        assert!(throttle.check(&keys("t/user9", "10.0.0.8")).is_ok());
    }
}
