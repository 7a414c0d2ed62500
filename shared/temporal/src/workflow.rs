//! The command workflow (DESIGN.md section 6): run the command in one local
//! activity; then sleep on a durable workflow timer for each timer the command
//! asked for (a scheduled order's due time) and run the timer's command.
//!
//! Upgrades must not break running workflows (a scheduled order sleeps for
//! hours): the workflow type, activity names and the order of commands are
//! part of the recorded history. `tests/replay.rs` of the worker replays
//! histories recorded from earlier releases; a change of path goes behind
//! `ctx.patched(..)` (see [`GENERIC_TIMERS`]).
#![allow(unreachable_pub, missing_debug_implementations)] // the SDK macros generate these items

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use kitchen_adapters::postgres::unit_of_work::CommandUnitOfWork;
use kitchen_domain::queue::CommandOutcome;
use kitchen_domain::usecase::TimerRequest;
use kitchen_domain::{CommandId, TenantId};
use serde::{Deserialize, Serialize};
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{LocalActivityOptions, WorkflowContext, WorkflowResult};

use crate::metrics::WorkerMetrics;

/// The patch that replaced the order-only `mark_due` step by generic timers.
/// Workflows started before it (no marker in their history) keep the old path.
pub const GENERIC_TIMERS: &str = "generic-timers-v1";

/// The workflow's input: which command to run. The payload stays in Postgres.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandRef {
    pub tenant_id: TenantId,
    pub command_id: CommandId,
}

/// One timer of a command: the activity input when it fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimerRef {
    pub tenant_id: TenantId,
    pub command_id: CommandId,
    pub index: usize,
}

/// `{tenant_id}-{command_id}`: one workflow per command, ever.
pub fn workflow_id(tenant: TenantId, command: CommandId) -> String {
    format!("{tenant}-{command}")
}

/// How long one attempt of a command activity may run (`[worker]
/// activity_timeout_secs`); set once by the worker at startup, before any
/// workflow runs. Not part of a workflow's history, so changing it between
/// deployments is safe.
static ACTIVITY_TIMEOUT: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();

/// The default of [`ACTIVITY_TIMEOUT`] (the setting's default).
const DEFAULT_ACTIVITY_TIMEOUT: Duration = Duration::from_secs(30);

/// Sets the activity timeout of this process's workflows; the first call wins.
pub fn set_activity_timeout(timeout: Duration) {
    if ACTIVITY_TIMEOUT.set(timeout).is_err() && ACTIVITY_TIMEOUT.get() != Some(&timeout) {
        tracing::warn!(
            ?timeout,
            "the activity timeout was already set; keeping the first"
        );
    }
}

/// Options of the tenant workflows' activities: regular activities (not
/// local), so each step is recorded in the history as it completes and a
/// signal (cancel, update, restore) lands between two steps.
pub(crate) fn step_options() -> temporalio_sdk::ActivityOptions {
    temporalio_sdk::ActivityOptions::start_to_close_timeout(
        *ACTIVITY_TIMEOUT.get().unwrap_or(&DEFAULT_ACTIVITY_TIMEOUT),
    )
}

fn activity_options() -> LocalActivityOptions {
    LocalActivityOptions::builder()
        .start_to_close_timeout(*ACTIVITY_TIMEOUT.get().unwrap_or(&DEFAULT_ACTIVITY_TIMEOUT))
        .build()
}

/// How long to sleep until `due_at`, measured on the workflow's clock (from
/// history, so a replay computes the same).
fn delay_until(now: Option<SystemTime>, timer: &TimerRequest) -> Duration {
    let due: SystemTime = timer.due_at.into();
    now.and_then(|now| due.duration_since(now).ok())
        .unwrap_or(Duration::ZERO)
}

#[workflow]
#[derive(Default)]
pub struct CommandWorkflow;

#[workflow_methods]
impl CommandWorkflow {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        command: CommandRef,
    ) -> WorkflowResult<CommandOutcome> {
        let outcome = ctx
            .execute_local_activity(
                CommandActivities::run_command,
                command.clone(),
                activity_options(),
            )
            .await?;
        let CommandOutcome::Succeeded {
            timers, due_in_ms, ..
        } = &outcome
        else {
            return Ok(outcome);
        };
        if timers.is_empty() && due_in_ms.is_none() {
            // Nothing to wait for (the common case): no patch marker needed.
            return Ok(outcome);
        }
        if ctx.patched(GENERIC_TIMERS) {
            let mut timers = timers.clone();
            timers.sort_by_key(|t| (t.due_at, t.index));
            for timer in timers {
                // A real workflow timer: durable across worker restarts.
                let delay = delay_until(ctx.workflow_time(), &timer);
                if !delay.is_zero() {
                    ctx.timer(delay).await;
                }
                let fire = TimerRef {
                    tenant_id: command.tenant_id,
                    command_id: command.command_id,
                    index: timer.index,
                };
                ctx.execute_local_activity(CommandActivities::fire_timer, fire, activity_options())
                    .await?;
            }
        } else if let Some(ms) = due_in_ms {
            // Started by a release before generic timers: replay its commands.
            ctx.timer(Duration::from_millis(*ms)).await;
            ctx.execute_local_activity(CommandActivities::mark_due, command, activity_options())
                .await?;
        }
        Ok(outcome)
    }
}

/// The activities, holding the Postgres unit of work and the worker's series.
#[derive(Debug)]
pub struct CommandActivities {
    unit_of_work: CommandUnitOfWork,
    metrics: WorkerMetrics,
}

impl CommandActivities {
    /// The unit of work also counts its retried conflicts into `metrics`.
    pub fn new(unit_of_work: CommandUnitOfWork, metrics: WorkerMetrics) -> Self {
        Self {
            unit_of_work: unit_of_work.counting_conflicts(metrics.conflicts_retried.clone()),
            metrics,
        }
    }
}

fn retryable(e: impl std::error::Error + Send + Sync + 'static) -> ActivityError {
    tracing::warn!(cause = %e, "command attempt failed; Temporal will retry");
    ActivityError::from(e)
}

#[activities]
impl CommandActivities {
    /// Runs the command in one Postgres transaction. Errors are infrastructure
    /// failures and are retried by Temporal; rejections are outcomes.
    #[activity]
    pub async fn run_command(
        self: Arc<Self>,
        _ctx: ActivityContext,
        command: CommandRef,
    ) -> Result<CommandOutcome, ActivityError> {
        let began = Instant::now();
        let result = self
            .unit_of_work
            .run(command.tenant_id, command.command_id)
            .await;
        self.metrics.attempt("run_command", began, &result);
        if let Ok(outcome) = &result {
            self.metrics.outcome(outcome);
        }
        result.map_err(retryable)
    }

    /// Runs timer `index` of the command. Returns the seqs it appended, if any.
    #[activity]
    pub async fn fire_timer(
        self: Arc<Self>,
        _ctx: ActivityContext,
        timer: TimerRef,
    ) -> Result<Option<Vec<i64>>, ActivityError> {
        let began = Instant::now();
        let result = self
            .unit_of_work
            .fire_timer(timer.tenant_id, timer.command_id, timer.index)
            .await;
        self.metrics.attempt("fire_timer", began, &result);
        result.map_err(retryable)
    }

    /// The due step of workflows started before [`GENERIC_TIMERS`]: their
    /// histories name this activity, so it stays registered (as timer 0, the
    /// only timer those commands had). Returns the last seq appended, if any.
    #[activity]
    pub async fn mark_due(
        self: Arc<Self>,
        _ctx: ActivityContext,
        command: CommandRef,
    ) -> Result<Option<i64>, ActivityError> {
        let began = Instant::now();
        let result = self
            .unit_of_work
            .fire_timer(command.tenant_id, command.command_id, 0)
            .await;
        self.metrics.attempt("mark_due", began, &result);
        let seqs = result.map_err(retryable)?;
        Ok(seqs.and_then(|seqs| seqs.last().copied()))
    }
}
