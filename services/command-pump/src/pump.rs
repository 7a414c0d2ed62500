//! The dispatch loop: wake on notifications and on a timer, claim, start, mark.

use std::sync::Arc;
use std::time::Duration;

use kitchen_adapters::config::{DbRole, Settings};
use kitchen_adapters::postgres::listen::ListenHealth;
use kitchen_adapters::postgres::{self, PgPool};
use kitchen_adapters::shutdown::Shutdown;
use kitchen_domain::ports::{JobScheduler, Scheduled};
use kitchen_domain::{CommandId, CorrelationId, TenantId};
use secrecy::SecretString;
use tokio::sync::{mpsc, Semaphore};

use crate::claims::{self, Claim};
use crate::fair::{FairQueue, Turn};
use crate::heartbeat;
use crate::listener::{self, Wake};
use crate::metrics::PumpMetrics;

/// A configured pump. `run` until shutdown.
pub struct Pump<S> {
    pool: PgPool,
    listen_url: SecretString,
    listen_health: ListenHealth,
    scheduler: S,
    sweep_interval: Duration,
    stale_after: Duration,
    backoff_base: Duration,
    backoff_max: Duration,
    batch_size: u32,
    start_timeout: Duration,
    /// Most commands of one tenant in flight in Temporal (0: no cap).
    max_in_flight_per_tenant: u32,
    metrics: Arc<PumpMetrics>,
    /// The one `run` was given; its dispatch tasks watch it too.
    shutdown: Shutdown,
}

impl<S> std::fmt::Debug for Pump<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pump")
            .field("sweep_interval", &self.sweep_interval)
            .finish_non_exhaustive()
    }
}

/// What a dispatch made of its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dispatch {
    /// Started (or already running): in flight until its outcome is heard.
    InFlight,
    /// Not started, or already final: it takes no room in flight.
    NotInFlight,
    /// Refused: its tenant is at `max_in_flight_per_tenant`.
    AtCap,
}

/// How many workflow starts run at once.
const PARALLEL_STARTS: usize = 16;

/// Commands one tenant may have waiting in the pump's line (`FairQueue`);
/// more are left in the table for the next sweep.
const QUEUED_PER_TENANT: usize = 4 * PARALLEL_STARTS;

impl<S: JobScheduler + Send + Sync + 'static> Pump<S> {
    pub fn new(settings: &Settings, scheduler: S) -> anyhow::Result<Self> {
        let url = settings.database.role_url(DbRole::Pump);
        let pool = postgres::pool(&url, settings.database.pool_size)?;
        let p = &settings.pump;
        Ok(Self {
            pool,
            listen_url: url,
            listen_health: ListenHealth::default(),
            scheduler,
            sweep_interval: Duration::from_millis(p.sweep_interval_ms),
            stale_after: Duration::from_secs(p.stale_claim_secs),
            backoff_base: Duration::from_millis(p.backoff_base_ms),
            backoff_max: Duration::from_millis(p.backoff_max_ms),
            batch_size: p.batch_size,
            start_timeout: Duration::from_millis(p.start_timeout_ms),
            max_in_flight_per_tenant: p.max_in_flight_per_tenant,
            metrics: Arc::new(PumpMetrics::new()?),
            shutdown: Shutdown::new(),
        })
    }

    /// Its series (serve `metrics().registry()` on `/metrics`).
    pub fn metrics(&self) -> Arc<PumpMetrics> {
        self.metrics.clone()
    }

    /// Whether its LISTEN connection is up (a readiness check).
    pub fn listen_health(&self) -> ListenHealth {
        self.listen_health.clone()
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs until `shutdown` fires. Then it claims nothing more; a dispatch
    /// whose start is still waiting on Temporal gives its claim back (pending,
    /// due at once), so the next pump takes it without waiting
    /// `stale_claim_secs`; one past its start is marked dispatched. It returns
    /// when no claim of its own is left.
    pub async fn run(self, shutdown: Shutdown) {
        let pump = Arc::new(Pump {
            shutdown: shutdown.clone(),
            ..self
        });
        let (wake_tx, mut wake_rx) = mpsc::channel(1024);
        let listener = tokio::spawn(listener::run(
            pump.listen_url.clone(),
            wake_tx,
            shutdown.clone(),
            pump.listen_health.clone(),
        ));
        // Each dispatch runs as its own task: a slow start never holds up the
        // commands notified after it. What waits for a slot waits in `line`,
        // dealt round robin over tenants.
        let slots = Arc::new(Semaphore::new(PARALLEL_STARTS));
        let mut line = FairQueue::new(QUEUED_PER_TENANT, pump.max_in_flight_per_tenant as usize);
        // What each dispatch task made of its turn, back to the line.
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        let heartbeat = tokio::spawn(heartbeat::run(
            pump.pool.clone(),
            line.head_wait(),
            shutdown.clone(),
        ));
        let mut sweep = tokio::time::interval(pump.sweep_interval);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            while line.has_turn() {
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    break;
                };
                if let Some(turn) = line.pop() {
                    pump.spawn_dispatch(slot, turn, done_tx.clone());
                }
            }
            // Running short while the table holds more (a full sweep batch, a
            // dropped wake): sweep now rather than at the next tick.
            if line.len() < PARALLEL_STARTS && line.take_missed() {
                pump.sweep(&mut line).await;
                continue;
            }
            tokio::select! {
                wake = wake_rx.recv() => match wake {
                    Some(Wake::Command(tenant, id)) => line.push(tenant, id),
                    Some(Wake::Final(tenant)) => line.settled(tenant),
                    Some(Wake::Sweep) => {
                        line.forget_in_flight();
                        pump.sweep(&mut line).await;
                    }
                    None => break,
                },
                Some((turn, dispatch)) = done_rx.recv() => match dispatch {
                    Dispatch::InFlight => {}
                    Dispatch::NotInFlight => line.settled(turn.tenant),
                    Dispatch::AtCap => line.refused(turn),
                },
                _ = sweep.tick() => {
                    line.record_waiting_heads();
                    line.forget_in_flight();
                    pump.sweep(&mut line).await;
                }
                slot = slots.clone().acquire_owned(), if line.has_turn() => {
                    if let (Ok(slot), Some(turn)) = (slot, line.pop()) {
                        pump.spawn_dispatch(slot, turn, done_tx.clone());
                    }
                }
                () = shutdown.wait() => break,
            }
            if shutdown.is_triggered() {
                break;
            }
        }
        // Unread wakes must not hold up the listener's exit.
        drop(wake_rx);
        // Every dispatch holds a slot until its claim is settled.
        let _ = slots.acquire_many(PARALLEL_STARTS as u32).await;
        let _ = listener.await;
        let _ = heartbeat.await;
        tracing::info!("pump stopped");
    }

    /// Queues the due commands `due_commands()` deals (round robin over
    /// tenants). A full batch means more may be due: the line asks for
    /// another sweep once it runs short.
    async fn sweep(&self, line: &mut FairQueue) {
        match claims::due(&self.pool, self.batch_size, self.stale_after).await {
            Ok(due) => {
                if !due.is_empty() {
                    tracing::debug!(count = due.len(), "sweep found due commands");
                }
                if due.len() >= self.batch_size as usize {
                    line.mark_missed();
                }
                for (tenant, id) in due {
                    line.push(tenant, id);
                }
            }
            Err(e) => tracing::warn!(cause = %e, "sweep failed"),
        }
    }

    /// Dispatches in a task of its own, which holds `slot` until the claim is
    /// settled. Nothing new starts once shutdown fired (the sweep of the next
    /// pump finds it).
    fn spawn_dispatch(
        self: &Arc<Self>,
        slot: tokio::sync::OwnedSemaphorePermit,
        turn: Turn,
        done: mpsc::UnboundedSender<(Turn, Dispatch)>,
    ) {
        if self.shutdown.is_triggered() {
            return;
        }
        let pump = self.clone();
        tokio::spawn(async move {
            let dispatch = match pump.dispatch(turn.tenant, turn.id).await {
                Ok(dispatch) => dispatch,
                Err(e) => {
                    tracing::warn!(cause = %e, tenant_id = %turn.tenant, command_id = %turn.id, "dispatch failed");
                    Dispatch::NotInFlight
                }
            };
            let _ = done.send((turn, dispatch));
            drop(slot);
        });
    }

    #[tracing::instrument(skip(self), fields(tenant_id = %tenant, command_id = %id, correlation_id))]
    async fn dispatch(
        &self,
        tenant: TenantId,
        id: CommandId,
    ) -> Result<Dispatch, claims::ClaimError> {
        if self.shutdown.is_triggered() {
            return Ok(Dispatch::NotInFlight);
        }
        let began = std::time::Instant::now();
        let claimed = match claims::claim(
            &self.pool,
            tenant,
            id,
            self.stale_after,
            self.max_in_flight_per_tenant,
        )
        .await?
        {
            Claim::Claimed(claimed) => claimed,
            Claim::AtCap => {
                self.metrics.held_at_cap.inc();
                return Ok(Dispatch::AtCap);
            }
            Claim::NotDue => return Ok(Dispatch::NotInFlight),
        };
        let claimed_in = began.elapsed();
        self.metrics.claims.inc();
        let correlation = CorrelationId::from_uuid(claimed.correlation_id)
            .map_err(|e| claims::ClaimError::Corrupt(e.to_string()))?;
        tracing::Span::current().record("correlation_id", tracing::field::display(correlation));
        let start = self
            .scheduler
            .schedule(tenant, id, &claimed.command_type, correlation);
        // If the start reached Temporal after all, the retry is a duplicate start,
        // which counts as success: neither the timeout nor shutdown can cause a
        // second run.
        let started = tokio::select! {
            started = tokio::time::timeout(self.start_timeout, start) => started,
            () = self.shutdown.wait() => {
                tracing::info!("shutting down mid-start; giving the claim back");
                claims::release(&self.pool, tenant, id, Duration::ZERO).await?;
                return Ok(Dispatch::NotInFlight);
            }
        };
        let started = match started {
            Ok(result) => result,
            Err(_) => {
                Err(format!("workflow start timed out after {:?}", self.start_timeout).into())
            }
        };
        match started {
            Ok(Scheduled {
                workflow_id,
                refused: Some(refused),
                ..
            }) => {
                tracing::info!(%workflow_id, code = %refused.code, "command refused: its workflow is closed");
                claims::reject(&self.pool, tenant, id, &refused.code, &refused.reason).await?;
                Ok(Dispatch::NotInFlight)
            }
            Ok(scheduled) => {
                let started_in = began.elapsed();
                self.metrics
                    .observe_start(scheduled.newly_started, started_in - claimed_in);
                claims::mark_dispatched(&self.pool, tenant, id, &scheduled.workflow_id).await?;
                tracing::debug!(
                    workflow_id = %scheduled.workflow_id,
                    claim_us = claimed_in.as_micros() as u64,
                    start_us = (started_in - claimed_in).as_micros() as u64,
                    mark_us = (began.elapsed() - started_in).as_micros() as u64,
                    "dispatched"
                );
                Ok(Dispatch::InFlight)
            }
            Err(e) => {
                self.metrics.start_failures.inc();
                let retry_in = self.backoff(claimed.attempts);
                tracing::warn!(cause = %e, retry_in = ?retry_in, attempts = claimed.attempts, "workflow start failed; will retry");
                claims::release(&self.pool, tenant, id, retry_in).await?;
                Ok(Dispatch::NotInFlight)
            }
        }
    }

    fn backoff(&self, attempts: i32) -> Duration {
        let exp = attempts.clamp(1, 16) as u32 - 1;
        (self.backoff_base * 2u32.pow(exp)).min(self.backoff_max)
    }
}
