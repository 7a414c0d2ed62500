//! `CommandQueue` on Postgres: the gateway's side of the `commands` table.
//! Idempotency comes from the primary key `(tenant_id, id)`: the insert does
//! nothing on a duplicate, and the stored command is compared with the new one.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::RunQueryDsl;
use kitchen_domain::ports::{CommandQueue, QueueError};
use kitchen_domain::queue::{CommandError, CommandRecord, Enqueued, NewCommand};
use kitchen_domain::{AggregateId, CommandId, Seq, TenantId};
use serde_json::Value;
use uuid::Uuid;

use super::schema::commands;
use super::tenant_tx::{in_tenant_tx, TxError};
use super::PgPool;

/// The Postgres command queue. Cheap to clone.
#[derive(Clone)]
pub struct PgCommandQueue {
    pool: PgPool,
}

impl std::fmt::Debug for PgCommandQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCommandQueue").finish_non_exhaustive()
    }
}

impl PgCommandQueue {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// Every column of `commands`, as read back by the gateway and the worker.
#[derive(Queryable, Selectable, Debug)]
#[diesel(table_name = commands)]
pub struct CommandRow {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub command_type: String,
    pub payload: Value,
    pub status: String,
    pub aggregate_id: Uuid,
    pub user_id: Option<String>,
    pub correlation_id: Uuid,
    pub metadata: Value,
    pub error: Option<Value>,
    pub result_seqs: Vec<i64>,
    pub workflow_id: Option<String>,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Insertable)]
#[diesel(table_name = commands)]
struct NewCommandRow<'a> {
    tenant_id: Uuid,
    id: Uuid,
    command_type: &'a str,
    payload: &'a Value,
    aggregate_id: Uuid,
    user_id: Option<&'a str>,
    correlation_id: Uuid,
    metadata: &'a Value,
}

fn corrupt(e: impl std::fmt::Display) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(e.to_string().into())
}

impl TryFrom<CommandRow> for CommandRecord {
    type Error = diesel::result::Error;
    fn try_from(row: CommandRow) -> Result<Self, Self::Error> {
        Ok(CommandRecord {
            id: CommandId::from_uuid(row.id).map_err(corrupt)?,
            tenant_id: TenantId::from_uuid(row.tenant_id).map_err(corrupt)?,
            command_type: row.command_type,
            payload: row.payload,
            status: row.status.parse().map_err(corrupt)?,
            aggregate_id: AggregateId::from_uuid(row.aggregate_id).map_err(corrupt)?,
            user_id: row.user_id,
            correlation_id: row.correlation_id.try_into().map_err(corrupt)?,
            metadata: row.metadata,
            error: row
                .error
                .map(serde_json::from_value::<CommandError>)
                .transpose()
                .map_err(corrupt)?,
            result_seqs: row
                .result_seqs
                .into_iter()
                .map(Seq::new)
                .collect::<Result<_, _>>()
                .map_err(corrupt)?,
            workflow_id: row.workflow_id,
            attempts: row.attempts,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[derive(Debug)]
enum Failure {
    Queue(QueueError),
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for Failure {
    fn from(e: diesel::result::Error) -> Self {
        Failure::Db(e)
    }
}
impl From<TxError> for Failure {
    fn from(e: TxError) -> Self {
        Failure::Queue(QueueError::Unavailable(Box::new(e)))
    }
}
impl From<Failure> for QueueError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Queue(e) => e,
            Failure::Db(e) => QueueError::Unavailable(Box::new(e)),
        }
    }
}

impl CommandQueue for PgCommandQueue {
    #[tracing::instrument(skip_all, fields(tenant_id = %command.tenant_id, command_id = %command.id, correlation_id = %command.correlation_id))]
    async fn enqueue(&self, command: NewCommand) -> Result<Enqueued, QueueError> {
        let tenant = command.tenant_id;
        let result = in_tenant_tx(&self.pool, tenant, |conn| {
            async move {
                let inserted: Option<CommandRow> = diesel::insert_into(commands::table)
                    .values(NewCommandRow {
                        tenant_id: tenant.as_uuid(),
                        id: command.id.as_uuid(),
                        command_type: &command.command_type,
                        payload: &command.payload,
                        aggregate_id: command.aggregate_id.as_uuid(),
                        user_id: command.user_id.as_deref(),
                        correlation_id: command.correlation_id.as_uuid(),
                        metadata: &command.metadata,
                    })
                    .on_conflict((commands::tenant_id, commands::id))
                    .do_nothing()
                    .returning(CommandRow::as_returning())
                    .get_result(conn)
                    .await
                    .optional()?;
                if let Some(row) = inserted {
                    return Ok(Enqueued::Created(row.try_into()?));
                }
                let existing: CommandRecord = commands::table
                    .filter(commands::tenant_id.eq(tenant.as_uuid()))
                    .filter(commands::id.eq(command.id.as_uuid()))
                    .select(CommandRow::as_select())
                    .first(conn)
                    .await?
                    .try_into()?;
                if existing.is_same_request(&command) {
                    Ok(Enqueued::Existing(existing))
                } else {
                    Err(Failure::Queue(QueueError::IdempotencyConflict(command.id)))
                }
            }
            .scope_boxed()
        })
        .await;
        result.map_err(QueueError::from)
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, command_id = %id))]
    async fn get(
        &self,
        tenant: TenantId,
        id: CommandId,
    ) -> Result<Option<CommandRecord>, QueueError> {
        let result = in_tenant_tx(&self.pool, tenant, |conn| {
            async move {
                let row: Option<CommandRow> = commands::table
                    .filter(commands::tenant_id.eq(tenant.as_uuid()))
                    .filter(commands::id.eq(id.as_uuid()))
                    .select(CommandRow::as_select())
                    .first(conn)
                    .await
                    .optional()?;
                row.map(CommandRecord::try_from)
                    .transpose()
                    .map_err(Failure::from)
            }
            .scope_boxed()
        })
        .await;
        result.map_err(QueueError::from)
    }
}
