//! Graceful overload: past what the platform can finish, the gateway answers
//! 503 `overloaded` + `Retry-After` instead of queueing more. It learns the
//! load from PostgreSQL only (`platform_load()`, migration 000040), never from
//! Temporal: one query every `overload.refresh_ms`, cached in between, so a
//! request costs an atomic read. What was accepted is never touched.
//!
//! Rules (each off at 0):
//! - `max_open_commands`: all tenants' open commands; a bound on what waits.
//! - `max_head_wait_ms`: the longest wait of a command first in its tenant's
//!   line for a start slot, as live pumps report it in their heartbeat row.
//!   The pump deals turns over tenants, so this is what a new command of any
//!   tenant waits: one tenant's backlog alone (its quota's business) does not
//!   raise it, slow starts or many busy tenants do.
//! - `max_oldest_due_ms`: backstop for due work no pump's line holds yet: how
//!   long the oldest command due for dispatch has waited, among tenants with
//!   nothing in flight (a tenant held at `pump.max_in_flight_per_tenant`
//!   waits for its own commands, not for the platform).
//! - `max_in_flight_commands`: all tenants' commands claimed or dispatched and
//!   not yet final. Near the sustainable rate the pump keeps up and its line
//!   stays short while the queue builds inside Temporal's task queue and the
//!   worker's slots; the rows in flight are that queue, seen from PostgreSQL.
//!   It holds with or without a live pump (what is in flight runs without one).
//!
//! Both wait rules apply only while a pump heartbeat is fresh. With no pump
//! alive (stopped, restarting, or none yet) commands wait durably, as they
//! always have during a pump outage, and the open bound still caps them:
//! refusing all work because one pump restarts would turn a delay into an
//! outage.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Integer, Nullable};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use kitchen_adapters::config::OverloadSettings;
use kitchen_adapters::edge::ApiError;
use kitchen_adapters::postgres::PgPool;
use kitchen_adapters::shutdown::Shutdown;

use crate::metrics::Metrics;

/// One reading of `platform_load()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, QueryableByName)]
pub(crate) struct Reading {
    #[diesel(sql_type = BigInt)]
    pub(crate) open_commands: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub(crate) oldest_due_ms: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub(crate) heartbeat_age_ms: Option<i64>,
    /// Over fresh heartbeats only; `None` when no pump is alive.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub(crate) head_wait_ms: Option<i64>,
    /// Commands claimed or dispatched and not final, counted up to
    /// `max_in_flight_commands` + 1.
    #[diesel(sql_type = BigInt)]
    pub(crate) in_flight: i64,
}

/// Why new work is shed (the `rule` label of `kitchen_commands_shed_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shed {
    /// `max_open_commands` reached.
    OpenCommands,
    /// A live pump's line moves too slowly (`max_head_wait_ms`).
    HeadWait,
    /// A command due for dispatch waited past `max_oldest_due_ms` with a pump alive.
    DispatchLag,
    /// `max_in_flight_commands` reached: work queues inside Temporal.
    InFlight,
}

impl Shed {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Shed::OpenCommands => "open_commands",
            Shed::HeadWait => "head_wait",
            Shed::DispatchLag => "dispatch_lag",
            Shed::InFlight => "in_flight",
        }
    }
}

/// The rules of the module docs, on one reading.
pub(crate) fn shed_reason(reading: &Reading, settings: &OverloadSettings) -> Option<Shed> {
    let max_open = i64::from(settings.max_open_commands);
    if max_open > 0 && reading.open_commands >= max_open {
        return Some(Shed::OpenCommands);
    }
    let max_in_flight = i64::from(settings.max_in_flight_commands);
    if max_in_flight > 0 && reading.in_flight >= max_in_flight {
        return Some(Shed::InFlight);
    }
    let fresh = settings.heartbeat_fresh_ms as i64;
    let pump_alive = reading.heartbeat_age_ms.is_some_and(|age| age <= fresh);
    let max_head_wait = settings.max_head_wait_ms as i64;
    if max_head_wait > 0 && pump_alive && reading.head_wait_ms.is_some_and(|w| w > max_head_wait) {
        return Some(Shed::HeadWait);
    }
    let max_wait = settings.max_oldest_due_ms as i64;
    if max_wait > 0 && pump_alive && reading.oldest_due_ms.is_some_and(|w| w > max_wait) {
        return Some(Shed::DispatchLag);
    }
    None
}

/// The cached verdict; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct LoadGauge {
    settings: OverloadSettings,
    /// A claim or dispatch older than this no longer counts in flight
    /// (`pump.stale_claim_secs`, as in the pump's own cap).
    stale_after: Duration,
    /// The last reading and when it was taken.
    last: Arc<RwLock<Option<(Reading, Instant)>>>,
}

/// A reading older than this many refresh periods is ignored (the database is
/// unreachable: the insert itself then answers 503 `unavailable`).
const STALE_AFTER_REFRESHES: u32 = 8;

impl LoadGauge {
    pub(crate) fn new(settings: &OverloadSettings, stale_after: Duration) -> Self {
        Self {
            settings: settings.clone(),
            stale_after,
            last: Arc::default(),
        }
    }

    fn refresh_every(&self) -> Duration {
        Duration::from_millis(self.settings.refresh_ms.max(10))
    }

    fn is_on(&self) -> bool {
        let s = &self.settings;
        s.max_open_commands > 0
            || s.max_head_wait_ms > 0
            || s.max_oldest_due_ms > 0
            || s.max_in_flight_commands > 0
    }

    /// Reads the load every `refresh_ms` until `shutdown` (nothing when every
    /// rule is off).
    pub(crate) fn start(&self, pool: PgPool, metrics: Arc<Metrics>, shutdown: Shutdown) {
        if !self.is_on() {
            return;
        }
        let gauge = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(gauge.refresh_every());
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = shutdown.wait() => break,
                }
                match read(&pool, &gauge.settings, gauge.stale_after).await {
                    Ok(reading) => {
                        metrics.observe_load(&reading);
                        *gauge.last.write().unwrap_or_else(|p| p.into_inner()) =
                            Some((reading, Instant::now()));
                    }
                    Err(e) => tracing::warn!(cause = %e, "reading the load failed"),
                }
            }
        });
    }

    /// `Ok` to accept new work; 503 `overloaded` while a rule holds.
    pub(crate) fn admit(&self) -> Result<(), (Shed, ApiError)> {
        let last = *self.last.read().unwrap_or_else(|p| p.into_inner());
        let Some((reading, at)) = last else {
            return Ok(());
        };
        if at.elapsed() > self.refresh_every() * STALE_AFTER_REFRESHES {
            return Ok(());
        }
        match shed_reason(&reading, &self.settings) {
            None => Ok(()),
            Some(shed) => Err((
                shed,
                ApiError::Overloaded {
                    retry_after_secs: self.settings.retry_after_secs.max(1),
                    detail: "the platform is past what it can finish now; nothing was written, retry later".into(),
                },
            )),
        }
    }
}

async fn read(
    pool: &PgPool,
    settings: &OverloadSettings,
    stale_after: Duration,
) -> Result<Reading, Box<dyn std::error::Error + Send + Sync>> {
    let mut conn = pool.get().await?;
    // One more than the bound is enough to know it is reached.
    let cap = i32::try_from(settings.max_open_commands.saturating_add(1)).unwrap_or(i32::MAX);
    let fresh = i32::try_from(settings.heartbeat_fresh_ms).unwrap_or(i32::MAX);
    let in_flight_cap =
        i32::try_from(settings.max_in_flight_commands.saturating_add(1)).unwrap_or(i32::MAX);
    let stale_ms = i32::try_from(stale_after.as_millis()).unwrap_or(i32::MAX);
    let reading = diesel::sql_query(
        "SELECT open_commands, oldest_due_ms, heartbeat_age_ms, head_wait_ms, in_flight
         FROM platform_load($1, $2, $3, $4)",
    )
    .bind::<Integer, _>(cap)
    .bind::<Integer, _>(fresh)
    .bind::<Integer, _>(in_flight_cap)
    .bind::<Integer, _>(stale_ms)
    .get_result(&mut conn)
    .await?;
    Ok(reading)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> OverloadSettings {
        OverloadSettings {
            max_open_commands: 100,
            max_head_wait_ms: 500,
            max_oldest_due_ms: 1000,
            heartbeat_fresh_ms: 3000,
            ..OverloadSettings::default()
        }
    }

    fn reading(open: i64, due: Option<i64>, heartbeat: Option<i64>) -> Reading {
        Reading {
            open_commands: open,
            oldest_due_ms: due,
            heartbeat_age_ms: heartbeat,
            head_wait_ms: heartbeat.map(|_| 0),
            in_flight: 0,
        }
    }

    #[test]
    fn a_queue_inside_temporal_sheds_with_or_without_a_pump() {
        let s = OverloadSettings {
            max_in_flight_commands: 32,
            ..settings()
        };
        let quick_line = reading(40, Some(5), Some(500));
        for (in_flight, heartbeat, shed) in [
            (31, Some(500), None),
            (32, Some(500), Some(Shed::InFlight)),
            // What is in flight runs without a pump, so the count still holds.
            (32, None, Some(Shed::InFlight)),
        ] {
            let r = Reading {
                in_flight,
                heartbeat_age_ms: heartbeat,
                ..quick_line
            };
            assert_eq!(shed_reason(&r, &s), shed, "{in_flight} in flight");
        }
        // Off by default.
        let r = Reading {
            in_flight: 1_000_000,
            ..quick_line
        };
        assert_eq!(shed_reason(&r, &settings()), None);
    }

    #[test]
    fn a_slow_line_at_a_live_pump_sheds() {
        let s = settings();
        let slow = Reading {
            head_wait_ms: Some(800),
            ..reading(10, Some(100), Some(500))
        };
        assert_eq!(shed_reason(&slow, &s), Some(Shed::HeadWait));
        let quick = Reading {
            head_wait_ms: Some(20),
            ..slow
        };
        assert_eq!(shed_reason(&quick, &s), None);
    }

    #[test]
    fn the_open_bound_sheds_with_or_without_a_pump() {
        let s = settings();
        assert_eq!(shed_reason(&reading(99, None, None), &s), None);
        assert_eq!(
            shed_reason(&reading(100, None, None), &s),
            Some(Shed::OpenCommands)
        );
        assert_eq!(
            shed_reason(&reading(100, Some(10), Some(100)), &s),
            Some(Shed::OpenCommands)
        );
    }

    #[test]
    fn a_dispatch_lag_sheds_only_while_a_pump_is_alive() {
        let s = settings();
        let lagging = Some(5000);
        assert_eq!(
            shed_reason(&reading(10, lagging, Some(500)), &s),
            Some(Shed::DispatchLag)
        );
        // No pump at all, or a silent one: commands wait for it instead.
        assert_eq!(shed_reason(&reading(10, lagging, None), &s), None);
        assert_eq!(shed_reason(&reading(10, lagging, Some(10_000)), &s), None);
        assert_eq!(shed_reason(&reading(10, Some(900), Some(500)), &s), None);
    }

    #[test]
    fn zero_turns_each_rule_off() {
        let s = OverloadSettings {
            max_open_commands: 0,
            max_head_wait_ms: 0,
            max_oldest_due_ms: 0,
            max_in_flight_commands: 0,
            ..settings()
        };
        let worst = Reading {
            head_wait_ms: Some(60_000),
            in_flight: 1_000_000,
            ..reading(1_000_000, Some(60_000), Some(0))
        };
        assert_eq!(shed_reason(&worst, &s), None);
    }
}
