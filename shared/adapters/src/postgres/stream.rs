//! What realtime reads besides the events themselves: the head of a tenant's
//! log with its epoch (the stream's honest head), and the outcome of a command
//! that became final (the outcome frame). Both under the tenant's RLS, as any
//! role that may read `tenant_sequences` (gateway, realtime) and the outcome
//! columns of `commands` (realtime: migration 2026-11-25-000030).

use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use kitchen_domain::ports::StoreError;
use kitchen_domain::queue::{CommandError, CommandStatus};
use kitchen_domain::{CommandId, Seq, TenantId};
use uuid::Uuid;

use super::event_store::{classify_db_error, recorded_all, EventRow, PgFailure};
use super::prepared::Prepared;
use super::schema::{commands, tenant_sequences};
use super::tenant_tx::{in_tenant_tx, TxError};
use super::PgPool;

/// Where a tenant's log is: its last seq and the incarnation (`epoch`) those
/// seqs belong to. A log that was never written has seq 0 and the nil epoch;
/// its first append (or provisioning) gives it a random one, and so does every
/// recreation after `erase_tenant()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogHead {
    pub seq: Seq,
    pub epoch: Uuid,
}

impl LogHead {
    /// The head of a log that has no row yet.
    pub const EMPTY: LogHead = LogHead {
        seq: Seq::ZERO,
        epoch: Uuid::nil(),
    };
}

/// Reads the head inside an open tenant transaction (the snapshot's, say, so
/// it is consistent with the rest of what that transaction reads).
pub(crate) async fn log_head_in_tx(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
) -> Result<LogHead, StoreError> {
    let row: Option<(i64, Uuid)> = tenant_sequences::table
        .filter(tenant_sequences::tenant_id.eq(tenant.as_uuid()))
        .select((tenant_sequences::last_seq, tenant_sequences::epoch))
        .first(conn)
        .await
        .optional()
        .map_err(classify_db_error)?;
    match row {
        None => Ok(LogHead::EMPTY),
        Some((seq, epoch)) => Ok(LogHead {
            seq: Seq::new(seq).map_err(|e| StoreError::CorruptRow(e.to_string()))?,
            epoch,
        }),
    }
}

/// The tenant's log head (see [`LogHead`]).
#[tracing::instrument(skip(pool), fields(tenant_id = %tenant))]
pub async fn log_head(pool: &PgPool, tenant: TenantId) -> Result<LogHead, StoreError> {
    in_tenant_tx(pool, tenant, |conn| {
        async move { Ok::<_, PgFailure>(log_head_in_tx(conn, tenant).await?) }.scope_boxed()
    })
    .await
    .map_err(|f| f.into_store_error(None))
}

/// Up to `limit` events of `tenant` after `after`, in seq order, upcast: what
/// `EventStore::read` returns, in ONE statement and round trip
/// (`stream_events_after()`, migration 2026-11-25-000045, kept prepared: it
/// sets the tenant for its own implicit transaction, under RLS) instead of
/// three (BEGIN + set tenant, SELECT, COMMIT). Realtime reads each NOTIFY batch
/// of a room, and each page of a socket's catch-up, with it.
#[tracing::instrument(skip(pool), fields(tenant_id = %tenant, after = %after, limit))]
pub async fn read_after(
    pool: &PgPool,
    tenant: TenantId,
    after: Seq,
    limit: u32,
) -> Result<Vec<kitchen_domain::RecordedEvent>, StoreError> {
    use diesel::sql_types::{BigInt, Integer, Uuid as SqlUuid};
    kitchen_domain::ports::check_read_limit(limit)?;
    let limit = i32::try_from(limit).map_err(|_| StoreError::InvalidLimit(limit))?;
    let mut conn = pool
        .get()
        .await
        .map_err(|e| PgFailure::from(TxError::from(e)).into_store_error(None))?;
    // `load` reads the answer to its end (ReadyForQuery included): the rows
    // are those of a statement that completed.
    let rows: Vec<EventRow> = Prepared(
        diesel::sql_query("SELECT * FROM stream_events_after($1, $2, $3)")
            .bind::<SqlUuid, _>(tenant.as_uuid())
            .bind::<BigInt, _>(after.get())
            .bind::<Integer, _>(limit),
    )
    .load(&mut conn)
    .await
    .map_err(classify_db_error)?;
    recorded_all(rows)
}

/// A final command, as the outcome frame shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalOutcome {
    pub command_id: CommandId,
    pub status: CommandStatus,
    /// The seqs it appended (empty unless succeeded).
    pub event_seqs: Vec<i64>,
    /// Why it ended without events (rejected or failed).
    pub rejection: Option<CommandError>,
}

impl FinalOutcome {
    /// The largest seq the command appended (0: none): its outcome frame goes
    /// on a socket only after that event's frame.
    pub fn last_seq(&self) -> i64 {
        self.event_seqs.iter().copied().max().unwrap_or(0)
    }
}

/// The outcome of command `id` of `tenant`, when it is final and a household
/// command; `None` otherwise (unknown, not final yet, or a platform command).
#[tracing::instrument(skip(pool), fields(tenant_id = %tenant, command_id = %id))]
pub async fn final_outcome(
    pool: &PgPool,
    tenant: TenantId,
    id: CommandId,
) -> Result<Option<FinalOutcome>, StoreError> {
    type Row = (String, String, Option<serde_json::Value>, Vec<i64>);
    let row: Option<Row> = in_tenant_tx(pool, tenant, |conn| {
        async move {
            commands::table
                .filter(commands::tenant_id.eq(tenant.as_uuid()))
                .filter(commands::id.eq(id.as_uuid()))
                .select((
                    commands::command_type,
                    commands::status,
                    commands::error,
                    commands::result_seqs,
                ))
                .first::<Row>(conn)
                .await
                .optional()
                .map_err(PgFailure::from)
        }
        .scope_boxed()
    })
    .await
    .map_err(|f| f.into_store_error(None))?;
    let Some((command_type, status, error, event_seqs)) = row else {
        return Ok(None);
    };
    let status: CommandStatus = status.parse().map_err(StoreError::CorruptRow)?;
    if !status.is_final() || command_type.starts_with("tenant.") {
        return Ok(None);
    }
    let rejection = match status {
        CommandStatus::Succeeded => None,
        // A final status without a stored reason still says which it was.
        _ => Some(
            error
                .and_then(|e| serde_json::from_value::<CommandError>(e).ok())
                .unwrap_or_else(|| CommandError {
                    code: status.as_str().to_owned(),
                    reason: format!("the command {status}"),
                }),
        ),
    };
    Ok(Some(FinalOutcome {
        command_id: id,
        status,
        event_seqs,
        rejection,
    }))
}
