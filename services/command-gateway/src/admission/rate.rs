//! Commands per second per tenant: a token bucket (GCRA, the `governor`
//! crate) of `quotas.command_burst` refilled at `quotas.commands_per_sec`.
//! Kept in memory by each gateway instance: N instances admit up to N times
//! the rate (README "Quotas and overload").

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use kitchen_adapters::config::QuotaSettings;
use kitchen_domain::TenantId;

/// Checks between two prunes of tenants whose bucket is full again.
const PRUNE_EVERY: u64 = 4096;

pub(crate) struct CommandRate {
    /// `None`: no rate limit (`commands_per_sec = 0`).
    limiter: Option<DefaultKeyedRateLimiter<TenantId>>,
    checks: AtomicU64,
}

impl std::fmt::Debug for CommandRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandRate")
            .field("on", &self.limiter.is_some())
            .finish_non_exhaustive()
    }
}

impl CommandRate {
    pub(crate) fn new(settings: &QuotaSettings) -> Self {
        let limiter = NonZeroU32::new(settings.commands_per_sec).map(|rate| {
            let burst = NonZeroU32::new(settings.command_burst).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Self {
            limiter,
            checks: AtomicU64::new(0),
        }
    }

    /// Takes one token of `tenant`'s bucket, or says how long until one is there.
    pub(crate) fn check(&self, tenant: TenantId) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        // Memory stays bounded by the tenants active lately, not all ever seen.
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        limiter
            .check_key(&tenant)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// `Retry-After` in whole seconds, never 0 (a client retrying at once would
/// only be refused again).
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(per_sec: u32, burst: u32) -> QuotaSettings {
        QuotaSettings {
            commands_per_sec: per_sec,
            command_burst: burst,
            ..QuotaSettings::default()
        }
    }

    #[test]
    fn a_tenant_gets_its_burst_then_waits_while_another_tenant_is_untouched() {
        let rate = CommandRate::new(&settings(1, 3));
        let (noisy, quiet) = (TenantId::new_random(), TenantId::new_random());
        for _ in 0..3 {
            assert!(rate.check(noisy).is_ok());
        }
        let wait = rate.check(noisy).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert_eq!(retry_after_secs(wait), 1);
        assert!(rate.check(quiet).is_ok());
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let rate = CommandRate::new(&settings(0, 0));
        let tenant = TenantId::new_random();
        for _ in 0..10_000 {
            assert!(rate.check(tenant).is_ok());
        }
    }
}
