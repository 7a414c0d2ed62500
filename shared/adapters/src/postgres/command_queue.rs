//! `CommandQueue` on Postgres: the gateway's side of the `commands` table.
//! Idempotency comes from the primary key `(tenant_id, id)`: the insert does
//! nothing on a duplicate, and the stored command is compared with the new one.
//! A tenant's open (not final) commands are bounded inside that same insert
//! (`with_open_limit`), so the bound holds across gateway replicas.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::RunQueryDsl;
use kitchen_domain::ports::{CommandQueue, QueueError};
use kitchen_domain::queue::{CommandError, CommandRecord, Enqueued, NewCommand};
use kitchen_domain::{AggregateId, CommandId, CorrelationId, Seq, TenantId};
use serde_json::Value;
use uuid::Uuid;

use super::schema::commands;
use super::tenant_tx::{in_tenant_tx, TxError};
use super::{PgPool, Prepared};

/// The Postgres command queue. Cheap to clone.
#[derive(Clone)]
pub struct PgCommandQueue {
    pool: PgPool,
    /// Most open commands one tenant may have; `None`: unbounded.
    open_limit: Option<u32>,
}

impl std::fmt::Debug for PgCommandQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCommandQueue").finish_non_exhaustive()
    }
}

impl PgCommandQueue {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            open_limit: None,
        }
    }

    /// The same queue, refusing a new command (`QueueError::BacklogFull`,
    /// nothing written) while its tenant has `limit` open commands (pending,
    /// claimed or dispatched). `0` means unbounded.
    pub fn with_open_limit(mut self, limit: u32) -> Self {
        self.open_limit = (limit > 0).then_some(limit);
        self
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

#[derive(QueryableByName)]
struct Inserted {
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    created_at: DateTime<Utc>,
}

/// The gateway's insert; see `insert_new`. `$9` bounds the tenant's open
/// commands: the subquery counts at most `$9` of them (through
/// `commands_open_by_tenant_idx`), and at the bound nothing is inserted. It
/// reads the statement's snapshot, so concurrent inserts of one tenant may
/// overshoot by at most their number (one per gateway connection in flight).
const INSERT_SQL: &str = "\
WITH tenant AS MATERIALIZED (SELECT set_config('app.tenant_id', $1, true)::uuid AS id)
INSERT INTO commands (tenant_id, id, type, payload, aggregate_id, user_id, correlation_id, metadata)
SELECT tenant.id, $2, $3, $4, $5, $6, $7, $8 FROM tenant
WHERE $9 IS NULL OR (SELECT count(*) FROM (
        SELECT 1 FROM commands c
        WHERE c.tenant_id = tenant.id AND c.status IN ('pending', 'claimed', 'dispatched')
        LIMIT $9) open) < $9
ON CONFLICT (tenant_id, id) DO NOTHING
RETURNING created_at";

/// Inserts the command in ONE statement and round trip, kept prepared (the
/// tenant is set by the statement itself, transaction-local to it): the hot
/// path of every POST.
/// The insert counts only once the server said it committed: in an implicit
/// transaction the extended protocol hands back the RETURNING row and
/// CommandComplete at Execute and commits only at Sync, answered by
/// ReadyForQuery (or by an error: a commit that fails, a server stopped in
/// between). `get_result` stops at the first row and drops the rest of the
/// answer, so the gateway answered 202 for commands that were never stored
/// (found by the fault drill's PostgreSQL restart;
/// `tests/commit_acknowledged.rs`). `get_results` reads the answer to its end,
/// ReadyForQuery included, in the same round trip (an explicit BEGIN/COMMIT
/// would have cost two more).
/// `None` when the id already exists or the tenant is at its open limit
/// (`enqueue` tells which). The tenant column comes from the
/// `set_config` result, so no row can be written before the tenant is set, and
/// the RLS check (tenant_id = the setting) still guards the insert.
async fn insert_new(
    pool: &PgPool,
    command: &NewCommand,
    open_limit: Option<u32>,
) -> Result<Option<DateTime<Utc>>, Failure> {
    use diesel::sql_types::{BigInt, Jsonb, Nullable, Text, Uuid as SqlUuid};
    let mut conn = pool.get().await.map_err(TxError::from)?;
    let insert = Prepared(
        diesel::sql_query(INSERT_SQL)
            .bind::<Text, _>(command.tenant_id.to_string())
            .bind::<SqlUuid, _>(command.id.as_uuid())
            .bind::<Text, _>(&command.command_type)
            .bind::<Jsonb, _>(&command.payload)
            .bind::<SqlUuid, _>(command.aggregate_id.as_uuid())
            .bind::<Nullable<Text>, _>(command.user_id.as_deref())
            .bind::<SqlUuid, _>(command.correlation_id.as_uuid())
            .bind::<Jsonb, _>(&command.metadata)
            .bind::<Nullable<BigInt>, _>(open_limit.map(i64::from)),
    );
    let inserted: Vec<Inserted> = insert.get_results(&mut conn).await?;
    let inserted = inserted.into_iter().next();
    Ok(inserted.map(|i| i.created_at))
}

impl CommandQueue for PgCommandQueue {
    #[tracing::instrument(skip_all, fields(tenant_id = %command.tenant_id, command_id = %command.id, correlation_id = %command.correlation_id))]
    async fn enqueue(&self, command: NewCommand) -> Result<Enqueued, QueueError> {
        if let Some(created_at) = insert_new(&self.pool, &command, self.open_limit).await? {
            return Ok(Enqueued::Created(CommandRecord::pending(
                command, created_at,
            )));
        }
        // The id exists (a retry of the same command, or another command
        // reusing it), or the tenant is at its open limit. A retry answers as
        // before even at the limit: it adds nothing.
        let tenant = command.tenant_id;
        let open_limit = self.open_limit;
        let result = in_tenant_tx(&self.pool, tenant, |conn| {
            async move {
                let existing: Option<CommandRow> = commands::table
                    .filter(commands::tenant_id.eq(tenant.as_uuid()))
                    .filter(commands::id.eq(command.id.as_uuid()))
                    .select(CommandRow::as_select())
                    .first(conn)
                    .await
                    .optional()?;
                let Some(existing) = existing else {
                    return match open_limit {
                        Some(limit) => Err(Failure::Queue(QueueError::BacklogFull { limit })),
                        // Not inserted, not there: deleted in between (an erasure).
                        None => Err(Failure::Db(diesel::result::Error::NotFound)),
                    };
                };
                let existing: CommandRecord = existing.try_into()?;
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

    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, correlation_id = %correlation))]
    async fn by_correlation(
        &self,
        tenant: TenantId,
        correlation: CorrelationId,
        after: Option<CommandId>,
        limit: u32,
    ) -> Result<Vec<CommandRecord>, QueueError> {
        let result = in_tenant_tx(&self.pool, tenant, |conn| {
            async move {
                let mut query = commands::table
                    .filter(commands::tenant_id.eq(tenant.as_uuid()))
                    .filter(commands::correlation_id.eq(correlation.as_uuid()))
                    .into_boxed();
                if let Some(after) = after {
                    // Keyset paging on (created_at, id): stable under inserts.
                    // An unknown cursor (or another tenant's) yields nothing.
                    let cursor: Option<DateTime<Utc>> = commands::table
                        .filter(commands::tenant_id.eq(tenant.as_uuid()))
                        .filter(commands::id.eq(after.as_uuid()))
                        .select(commands::created_at)
                        .first(conn)
                        .await
                        .optional()?;
                    let Some(at) = cursor else {
                        return Ok(Vec::new());
                    };
                    query = query.filter(
                        commands::created_at.gt(at).or(commands::created_at
                            .eq(at)
                            .and(commands::id.gt(after.as_uuid()))),
                    );
                }
                let rows: Vec<CommandRow> = query
                    .order((commands::created_at.asc(), commands::id.asc()))
                    .limit(i64::from(limit))
                    .select(CommandRow::as_select())
                    .load(conn)
                    .await?;
                rows.into_iter()
                    .map(CommandRecord::try_from)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(Failure::from)
            }
            .scope_boxed()
        })
        .await;
        result.map_err(QueueError::from)
    }
}
