//! The worker's unit of work: one command, or one of its timers, to its outcome
//! in **one** transaction: lock the command row, return a stored final outcome,
//! load, decide (the pure use case, through the catalog), append with the
//! expected version and the snapshot, and finish the command. No business rule
//! and no aggregate is named here. A retry after a crash finds the final status
//! and returns the stored outcome; a version conflict is retried; a rejection is
//! final; any error rolls everything back.

use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use kitchen_domain::catalog::AnyCommand;
use kitchen_domain::ports::StoreError;
use kitchen_domain::queue::{CommandOutcome, CommandRecord, CommandStatus};
use kitchen_domain::usecase::{Accepted, Decision, EventContext, RebuildError};
use kitchen_domain::{CommandId, LoadedStream, TenantId};
use prometheus::IntCounter;
use serde_json::{json, Value};

use super::command_queue::CommandRow;
use super::event_store::{append_in_tx, load_in_tx, rewrite_snapshot_in_tx};
use super::schema::commands;
use super::tenant_tx::{in_tenant_tx, TxError};
use super::{PgPool, Prepared};

/// How many times a version conflict is retried inside one activity attempt
/// before the attempt fails (and Temporal retries it).
const CONFLICT_RETRIES: usize = 20;

/// Why a unit of work did not reach an outcome. Every variant is retryable by
/// Temporal except `NotFound` (a command that is not there will not appear).
#[derive(Debug, thiserror::Error)]
pub enum UnitOfWorkError {
    #[error("command {0} not found")]
    NotFound(CommandId),
    #[error("version conflicts persisted after {CONFLICT_RETRIES} tries")]
    Contended,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the aggregate's stored state cannot be rebuilt")]
    Rebuild(#[from] RebuildError),
    #[error("database error")]
    Database(#[from] diesel::result::Error),
    #[error(transparent)]
    Transaction(#[from] TxError),
}

impl UnitOfWorkError {
    fn is_conflict(&self) -> bool {
        matches!(self, Self::Store(StoreError::Conflict { .. }))
    }
}

/// See the module docs. Connects as `kitchen_worker`.
#[derive(Clone)]
pub struct CommandUnitOfWork {
    pool: PgPool,
    /// Counts every conflict that was retried (the worker's metric), if set.
    conflicts_retried: Option<IntCounter>,
}

impl std::fmt::Debug for CommandUnitOfWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandUnitOfWork").finish_non_exhaustive()
    }
}

/// What one transaction attempt of a timer reached.
type TimerOutcome = Option<Vec<i64>>;

impl CommandUnitOfWork {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            conflicts_retried: None,
        }
    }

    /// Counts each version conflict retried into `counter`.
    pub fn counting_conflicts(mut self, counter: IntCounter) -> Self {
        self.conflicts_retried = Some(counter);
        self
    }

    /// Runs the command to its final status (see the module docs).
    #[tracing::instrument(skip(self), fields(tenant_id = %tenant, command_id = %id, correlation_id))]
    pub async fn run(
        &self,
        tenant: TenantId,
        id: CommandId,
    ) -> Result<CommandOutcome, UnitOfWorkError> {
        retrying_conflicts(self.conflicts_retried.as_ref(), || async move {
            in_tenant_tx(&self.pool, tenant, |conn| {
                async move { run_in_tx(conn, tenant, id).await }.scope_boxed()
            })
            .await
        })
        .await
    }

    /// The command's timer `index` fell due: run its timer command against the
    /// same aggregate, with event ids derived from the command and the timer.
    /// Returns the seqs appended, or `None` when the aggregate no longer takes
    /// it (a cancelled order, say) or it ran before: neither is an error.
    #[tracing::instrument(skip(self), fields(tenant_id = %tenant, command_id = %id, timer = index, correlation_id))]
    pub async fn fire_timer(
        &self,
        tenant: TenantId,
        id: CommandId,
        index: usize,
    ) -> Result<TimerOutcome, UnitOfWorkError> {
        retrying_conflicts(self.conflicts_retried.as_ref(), || async move {
            in_tenant_tx(&self.pool, tenant, |conn| {
                async move { fire_timer_in_tx(conn, tenant, id, index).await }.scope_boxed()
            })
            .await
        })
        .await
    }
}

/// Runs `attempt` again (each in a new transaction) while it conflicts,
/// counting each conflict into `retried`.
async fn retrying_conflicts<T, F, Fut>(
    retried: Option<&IntCounter>,
    mut attempt: F,
) -> Result<T, UnitOfWorkError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, UnitOfWorkError>>,
{
    for _ in 0..CONFLICT_RETRIES {
        match attempt().await {
            Err(e) if e.is_conflict() => {
                if let Some(retried) = retried {
                    retried.inc();
                }
                tracing::debug!("version conflict; retrying in a new transaction");
                tokio::task::yield_now().await
            }
            other => return other,
        }
    }
    Err(UnitOfWorkError::Contended)
}

async fn run_in_tx(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: CommandId,
) -> Result<CommandOutcome, UnitOfWorkError> {
    let record = load_command(conn, tenant, id, true).await?;
    tracing::Span::current().record(
        "correlation_id",
        tracing::field::display(record.correlation_id),
    );
    if record.status.is_final() {
        return Ok(stored_outcome(&record));
    }
    let command = match AnyCommand::parse(&record.command_type, &record.payload) {
        Ok(command) => command,
        Err(e) => {
            let reason = format!("stored command cannot be parsed: {e}");
            let error = json!({"code": "unparseable_command", "reason": reason});
            finish(conn, &record, CommandStatus::Failed, Some(error), vec![]).await?;
            return Ok(CommandOutcome::Failed { reason });
        }
    };
    let stream = command.stream(tenant);
    let loaded = load_in_tx(conn, tenant, &stream).await?;
    match command.decide(&loaded, &event_context(&record))? {
        Decision::Rejected(rejected) => {
            rewrite_stale_snapshot(conn, tenant, &command, &loaded).await?;
            let error = json!({"code": rejected.code, "reason": rejected.reason});
            finish(conn, &record, CommandStatus::Rejected, Some(error), vec![]).await?;
            tracing::info!(code = %rejected.code, "command rejected");
            Ok(CommandOutcome::Rejected {
                code: rejected.code,
                reason: rejected.reason,
            })
        }
        Decision::Accepted(accepted) => {
            let seqs = append(conn, tenant, &accepted).await?;
            finish(conn, &record, CommandStatus::Succeeded, None, seqs.clone()).await?;
            Ok(CommandOutcome::Succeeded {
                seqs,
                timers: accepted.timers,
                due_in_ms: None,
            })
        }
    }
}

async fn fire_timer_in_tx(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: CommandId,
    index: usize,
) -> Result<TimerOutcome, UnitOfWorkError> {
    let record = load_command(conn, tenant, id, false).await?;
    tracing::Span::current().record(
        "correlation_id",
        tracing::field::display(record.correlation_id),
    );
    let Some(command) = AnyCommand::parse(&record.command_type, &record.payload)
        .ok()
        .and_then(|command| command.timer_command(index))
    else {
        tracing::warn!("the command has no such timer; nothing to do");
        return Ok(None);
    };
    let stream = command.stream(tenant);
    let loaded = load_in_tx(conn, tenant, &stream).await?;
    match command.decide(&loaded, &event_context(&record).for_timer(index))? {
        Decision::Rejected(rejected) => {
            tracing::info!(code = %rejected.code, "timer command no longer applies");
            Ok(None)
        }
        Decision::Accepted(accepted) => {
            match append(conn, tenant, &accepted).await {
                Ok(seqs) => Ok(Some(seqs)),
                // A retry after a commit we never heard of: the events are there.
                Err(StoreError::DuplicateEvent { .. }) => Ok(None),
                Err(other) => Err(other.into()),
            }
        }
    }
}

/// Appends what the aggregate decided, with its snapshot; the seqs it got.
async fn append(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    accepted: &Accepted,
) -> Result<Vec<i64>, StoreError> {
    let recorded = append_in_tx(
        conn,
        tenant,
        &accepted.stream,
        accepted.expected,
        &accepted.events,
        &accepted.snapshot,
    )
    .await?;
    Ok(recorded.iter().map(|e| e.seq.get()).collect())
}

/// A stream loaded without a current-shape snapshot is rewritten, so the next
/// load reads the snapshot again instead of every event.
async fn rewrite_stale_snapshot(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    command: &AnyCommand,
    loaded: &LoadedStream,
) -> Result<(), UnitOfWorkError> {
    if loaded.snapshot.is_some() || loaded.events.is_empty() {
        return Ok(());
    }
    let stream = command.stream(tenant);
    let state = kitchen_domain::catalog::rebuild_state(&stream.aggregate_type, loaded)?;
    rewrite_snapshot_in_tx(conn, tenant, &stream, loaded, &state).await?;
    Ok(())
}

/// The context stamped on every event a command (or its timers) causes.
fn event_context(record: &CommandRecord) -> EventContext {
    let mut metadata = json!({"commandType": record.command_type, "userId": record.user_id});
    if let (Some(target), Value::Object(extra)) = (metadata.as_object_mut(), &record.metadata) {
        for (k, v) in extra {
            target.entry(k.clone()).or_insert(v.clone());
        }
    }
    EventContext {
        tenant: record.tenant_id,
        command_id: record.id,
        correlation_id: record.correlation_id,
        metadata,
        first_index: 0,
    }
}

/// The outcome a finished command recorded. Timers are a function of the
/// command, so a retried workflow sets the same ones.
fn stored_outcome(record: &CommandRecord) -> CommandOutcome {
    let error = record.error.clone();
    match record.status {
        CommandStatus::Rejected => {
            let error = error.unwrap_or(kitchen_domain::queue::CommandError {
                code: "rejected".into(),
                reason: "rejected".into(),
            });
            CommandOutcome::Rejected {
                code: error.code,
                reason: error.reason,
            }
        }
        CommandStatus::Failed => CommandOutcome::Failed {
            reason: error.map(|e| e.reason).unwrap_or_default(),
        },
        _ => CommandOutcome::Succeeded {
            seqs: record.result_seqs.iter().map(|s| s.get()).collect(),
            timers: AnyCommand::parse(&record.command_type, &record.payload)
                .map(|command| command.timers())
                .unwrap_or_default(),
            due_in_ms: None,
        },
    }
}

async fn finish(
    conn: &mut AsyncPgConnection,
    record: &CommandRecord,
    status: CommandStatus,
    error: Option<Value>,
    seqs: Vec<i64>,
) -> Result<(), diesel::result::Error> {
    Prepared(
        diesel::update(commands::table)
            .filter(commands::tenant_id.eq(record.tenant_id.as_uuid()))
            .filter(commands::id.eq(record.id.as_uuid()))
            .set((
                commands::status.eq(status.as_str()),
                commands::error.eq(error),
                commands::result_seqs.eq(seqs),
                commands::updated_at.eq(diesel::dsl::now),
            )),
    )
    .execute(conn)
    .await
    .map(|_| ())
}

async fn load_command(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: CommandId,
    lock: bool,
) -> Result<CommandRecord, UnitOfWorkError> {
    let query = commands::table
        .filter(commands::tenant_id.eq(tenant.as_uuid()))
        .filter(commands::id.eq(id.as_uuid()))
        .select(CommandRow::as_select());
    let row: Option<CommandRow> = if lock {
        query.for_update().first(conn).await.optional()?
    } else {
        query.first(conn).await.optional()?
    };
    let row = row.ok_or(UnitOfWorkError::NotFound(id))?;
    Ok(CommandRecord::try_from(row)?)
}

#[cfg(test)]
mod tests {
    use kitchen_domain::{AggregateId, Version};

    use super::*;

    fn conflict() -> UnitOfWorkError {
        UnitOfWorkError::Store(StoreError::Conflict {
            aggregate_id: AggregateId::new_random(),
            expected: Version::ZERO,
            actual: None,
        })
    }

    #[tokio::test]
    async fn each_retried_conflict_is_counted_and_nothing_else() {
        let counter = IntCounter::new("conflicts_retried", "test").unwrap();
        let mut left = 2;
        let result = retrying_conflicts(Some(&counter), || {
            left -= 1;
            let result = if left >= 0 { Err(conflict()) } else { Ok(7) };
            async move { result }
        })
        .await;
        assert_eq!(result.unwrap(), 7);
        assert_eq!(counter.get(), 2, "two conflicts, two retries");

        let failed: Result<(), _> = retrying_conflicts(Some(&counter), || async {
            Err(UnitOfWorkError::NotFound(CommandId::new_random()))
        })
        .await;
        assert!(matches!(failed, Err(UnitOfWorkError::NotFound(_))));
        assert_eq!(counter.get(), 2, "other errors are not retried");

        let contended: Result<(), _> =
            retrying_conflicts(Some(&counter), || async { Err(conflict()) }).await;
        assert!(matches!(contended, Err(UnitOfWorkError::Contended)));
        assert_eq!(counter.get(), 2 + CONFLICT_RETRIES as u64);
    }
}
