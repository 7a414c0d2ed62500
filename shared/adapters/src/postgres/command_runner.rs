//! Runs one command to its outcome in **one** transaction (the worker's
//! activity): lock the command row, load snapshot + later events, decide with the
//! pure domain, append with the expected version, update the snapshot, and set
//! the command's final status. A retry after a crash finds the final status and
//! returns the stored outcome, so events are never appended twice.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use kitchen_domain::aggregate::Aggregate;
use kitchen_domain::order::{MarkOrderDue, Order, OrderCommand};
use kitchen_domain::ports::StoreError;
use kitchen_domain::queue::{CommandRecord, CommandStatus};
use kitchen_domain::service::{envelopes_from, rebuild, TIMER_EVENT_INDEX};
use kitchen_domain::{CommandId, StreamRef, TenantId, Version};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::command_queue::CommandRow;
use super::event_store::{append_in_tx, load_in_tx, Failure};
use super::schema::commands;
use super::tenant_tx::{in_tenant_tx, TxError};
use super::{PgPool, Prepared};

/// How many times a version conflict is retried inside one activity attempt
/// before the attempt fails (and Temporal retries it).
const CONFLICT_RETRIES: usize = 20;

/// What became of a command. A rejection is an outcome, not an error: it is
/// final and recorded, and retrying would not change it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum RunOutcome {
    #[serde(rename_all = "camelCase")]
    Succeeded {
        seqs: Vec<i64>,
        /// For a scheduled order: milliseconds until it falls due.
        due_in_ms: Option<u64>,
    },
    Rejected {
        code: String,
        reason: String,
    },
    /// The stored command cannot be parsed (it predates a schema change, say).
    Failed {
        reason: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("command {0} not found")]
    NotFound(CommandId),
    #[error("version conflicts persisted after {CONFLICT_RETRIES} tries")]
    Contended,
    #[error(transparent)]
    Store(StoreError),
}

/// See the module docs. Connects as `kitchen_worker`.
#[derive(Clone)]
pub struct CommandRunner {
    pool: PgPool,
}

impl std::fmt::Debug for CommandRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandRunner").finish_non_exhaustive()
    }
}

enum Step<T> {
    Done(T),
    Conflict,
}

fn to_run_error(failure: Failure) -> RunError {
    match failure.into_store_error(None, Version::ZERO, None) {
        StoreError::Conflict { .. } => RunError::Contended,
        other => RunError::Store(other),
    }
}

impl From<TxError> for RunErrorInTx {
    fn from(e: TxError) -> Self {
        RunErrorInTx::Failure(Failure::from(e))
    }
}
impl From<diesel::result::Error> for RunErrorInTx {
    fn from(e: diesel::result::Error) -> Self {
        RunErrorInTx::Failure(Failure::from(e))
    }
}
impl From<Failure> for RunErrorInTx {
    fn from(f: Failure) -> Self {
        RunErrorInTx::Failure(f)
    }
}

/// Errors that end the transaction. `Conflict` and `Duplicate` must roll back
/// too: the tenant's seq counter was already bumped and may not keep the bump.
#[derive(Debug)]
enum RunErrorInTx {
    NotFound(CommandId),
    Conflict,
    Duplicate,
    Failure(Failure),
}

fn due_in_ms(command: &OrderCommand) -> Option<u64> {
    match command {
        OrderCommand::Create(c) => c
            .scheduled_for
            .map(|at| (at - Utc::now()).num_milliseconds().max(0) as u64),
        _ => None,
    }
}

/// The outcome a finished command recorded.
fn stored_outcome(record: &CommandRecord) -> RunOutcome {
    match record.status {
        CommandStatus::Rejected => {
            let error = record
                .error
                .clone()
                .unwrap_or(kitchen_domain::queue::CommandError {
                    code: "rejected".into(),
                    reason: "rejected".into(),
                });
            RunOutcome::Rejected {
                code: error.code,
                reason: error.reason,
            }
        }
        CommandStatus::Failed => RunOutcome::Failed {
            reason: record
                .error
                .as_ref()
                .map(|e| e.reason.clone())
                .unwrap_or_default(),
        },
        _ => RunOutcome::Succeeded {
            seqs: record.result_seqs.iter().map(|s| s.get()).collect(),
            due_in_ms: OrderCommand::parse(&record.command_type, &record.payload)
                .ok()
                .as_ref()
                .and_then(due_in_ms),
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
) -> Result<CommandRecord, RunErrorInTx> {
    let query = commands::table
        .filter(commands::tenant_id.eq(tenant.as_uuid()))
        .filter(commands::id.eq(id.as_uuid()))
        .select(CommandRow::as_select());
    let row: Option<CommandRow> = if lock {
        query.for_update().first(conn).await.optional()?
    } else {
        query.first(conn).await.optional()?
    };
    let row = row.ok_or(RunErrorInTx::NotFound(id))?;
    Ok(CommandRecord::try_from(row)?)
}

/// Metadata stamped on every event a command causes.
fn event_metadata(record: &CommandRecord) -> Value {
    let mut metadata = json!({"commandType": record.command_type, "userId": record.user_id});
    if let (Some(target), Value::Object(extra)) = (metadata.as_object_mut(), &record.metadata) {
        for (k, v) in extra {
            target.entry(k.clone()).or_insert(v.clone());
        }
    }
    metadata
}

impl CommandRunner {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Runs the command to its final status (see the module docs).
    #[tracing::instrument(skip(self), fields(tenant_id = %tenant, command_id = %id))]
    pub async fn run(&self, tenant: TenantId, id: CommandId) -> Result<RunOutcome, RunError> {
        for _ in 0..CONFLICT_RETRIES {
            match self.try_run(tenant, id).await? {
                Step::Done(outcome) => return Ok(outcome),
                Step::Conflict => tokio::task::yield_now().await,
            }
        }
        Err(RunError::Contended)
    }

    async fn try_run(&self, tenant: TenantId, id: CommandId) -> Result<Step<RunOutcome>, RunError> {
        let result = in_tenant_tx(&self.pool, tenant, |conn| {
            async move {
                let record = load_command(conn, tenant, id, true).await?;
                if record.status.is_final() {
                    return Ok(Step::Done(stored_outcome(&record)));
                }
                let command = match OrderCommand::parse(&record.command_type, &record.payload) {
                    Ok(command) => command,
                    Err(e) => {
                        let reason = format!("stored command cannot be parsed: {e}");
                        let error = json!({"code": "unparseable_command", "reason": reason});
                        finish(conn, &record, CommandStatus::Failed, Some(error), vec![]).await?;
                        return Ok(Step::Done(RunOutcome::Failed { reason }));
                    }
                };
                let stream = StreamRef::new(Order::TYPE, record.aggregate_id);
                let loaded = load_in_tx(conn, tenant, &stream).await?;
                let state: Order = rebuild(&loaded).map_err(Failure::from)?;
                match state.decide(&command) {
                    Err(rejection) => {
                        let (code, reason) = (rejection.code().to_owned(), rejection.to_string());
                        let error = json!({"code": code, "reason": reason});
                        finish(conn, &record, CommandStatus::Rejected, Some(error), vec![]).await?;
                        tracing::info!(code, "command rejected");
                        Ok(Step::Done(RunOutcome::Rejected { code, reason }))
                    }
                    Ok(decided) => {
                        let after = decided.iter().fold(state, |s, e| s.evolve(e));
                        let snapshot = serde_json::to_value(&after).expect("state serialises");
                        let new_events = envelopes_from(
                            record.id,
                            0,
                            record.correlation_id,
                            &event_metadata(&record),
                            &decided,
                        );
                        let recorded = match append_in_tx(
                            conn,
                            tenant,
                            &stream,
                            loaded.version(),
                            &new_events,
                            &snapshot,
                        )
                        .await
                        {
                            Ok(recorded) => recorded,
                            Err(Failure::Store(StoreError::Conflict { .. })) => {
                                return Err(RunErrorInTx::Conflict)
                            }
                            Err(other) => return Err(other.into()),
                        };
                        let seqs: Vec<i64> = recorded.iter().map(|e| e.seq.get()).collect();
                        finish(conn, &record, CommandStatus::Succeeded, None, seqs.clone()).await?;
                        Ok(Step::Done(RunOutcome::Succeeded {
                            seqs,
                            due_in_ms: due_in_ms(&command),
                        }))
                    }
                }
            }
            .scope_boxed()
        })
        .await;
        match result {
            Ok(step) => Ok(step),
            Err(RunErrorInTx::Conflict) => Ok(Step::Conflict),
            Err(RunErrorInTx::Duplicate) => Err(RunError::Store(StoreError::DuplicateEvent(
                kitchen_domain::EventId::derived(id, 0),
            ))),
            Err(RunErrorInTx::NotFound(id)) => Err(RunError::NotFound(id)),
            Err(RunErrorInTx::Failure(f)) => Err(to_run_error(f)),
        }
    }

    /// The durable timer fired: append the order's due event, caused by the
    /// command that created it. Returns its seq, or `None` when the order no
    /// longer takes it (cancelled, already due): that is not an error.
    #[tracing::instrument(skip(self), fields(tenant_id = %tenant, command_id = %id))]
    pub async fn mark_due(&self, tenant: TenantId, id: CommandId) -> Result<Option<i64>, RunError> {
        for _ in 0..CONFLICT_RETRIES {
            match self.try_mark_due(tenant, id).await? {
                Step::Done(seq) => return Ok(seq),
                Step::Conflict => tokio::task::yield_now().await,
            }
        }
        Err(RunError::Contended)
    }

    async fn try_mark_due(
        &self,
        tenant: TenantId,
        id: CommandId,
    ) -> Result<Step<Option<i64>>, RunError> {
        let result = in_tenant_tx(&self.pool, tenant, |conn| {
            async move {
                let record = load_command(conn, tenant, id, false).await?;
                let stream = StreamRef::new(Order::TYPE, record.aggregate_id);
                let loaded = load_in_tx(conn, tenant, &stream).await?;
                let state: Order = rebuild(&loaded).map_err(Failure::from)?;
                let command = OrderCommand::MarkDue(MarkOrderDue {
                    order_id: record.aggregate_id,
                });
                let Ok(decided) = state.decide(&command) else {
                    return Ok(Step::Done(None));
                };
                let after = decided.iter().fold(state, |s, e| s.evolve(e));
                let snapshot = serde_json::to_value(&after).expect("state serialises");
                let new_events = envelopes_from(
                    record.id,
                    TIMER_EVENT_INDEX,
                    record.correlation_id,
                    &event_metadata(&record),
                    &decided,
                );
                match append_in_tx(
                    conn,
                    tenant,
                    &stream,
                    loaded.version(),
                    &new_events,
                    &snapshot,
                )
                .await
                {
                    Ok(recorded) => Ok(Step::Done(recorded.last().map(|e| e.seq.get()))),
                    Err(Failure::Store(StoreError::Conflict { .. })) => Err(RunErrorInTx::Conflict),
                    Err(Failure::Store(StoreError::DuplicateEvent(_))) => {
                        Err(RunErrorInTx::Duplicate)
                    }
                    Err(other) => Err(other.into()),
                }
            }
            .scope_boxed()
        })
        .await;
        match result {
            Ok(step) => Ok(step),
            Err(RunErrorInTx::Conflict) => Ok(Step::Conflict),
            // A retry after a commit we never heard of: the due event is there.
            Err(RunErrorInTx::Duplicate) => Ok(Step::Done(None)),
            Err(RunErrorInTx::NotFound(id)) => Err(RunError::NotFound(id)),
            Err(RunErrorInTx::Failure(f)) => Err(to_run_error(f)),
        }
    }
}
