//! The pump's SQL: the cross-tenant work list, and claim / dispatched / release
//! inside one tenant's transaction (RLS applies; only routing columns are used).
//! These commits are leases (`Durability::Lease`): one lost in a database crash
//! is redone (the command is claimed again; its workflow start is idempotent),
//! so they do not wait for the WAL flush. Each statement stays prepared on its
//! connection (`Prepared`): one round trip, not a prepare and an execute.

use std::time::Duration;

use diesel::sql_types::{BigInt, Integer, Interval, Text, Uuid as SqlUuid};
use diesel::{OptionalExtension, QueryableByName};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::RunQueryDsl;
use kitchen_adapters::postgres::{in_tenant_tx_with, Durability, PgPool, Prepared, TxError};
use kitchen_domain::{CommandId, TenantId};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ClaimError {
    #[error(transparent)]
    Tx(#[from] TxError),
    #[error("database error: {0}")]
    Db(#[from] diesel::result::Error),
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

#[derive(QueryableByName)]
struct DueRow {
    #[diesel(sql_type = SqlUuid)]
    tenant_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// A claimed command, ready to start.
#[derive(Debug, QueryableByName)]
pub(crate) struct Claimed {
    #[diesel(sql_type = Text)]
    pub(crate) command_type: String,
    #[diesel(sql_type = Integer)]
    pub(crate) attempts: i32,
}

fn interval(d: Duration) -> diesel::data_types::PgInterval {
    diesel::data_types::PgInterval::from_microseconds(d.as_micros() as i64)
}

/// `(tenant, command)` pairs due for dispatch, across tenants (ids only).
pub(crate) async fn due(
    pool: &PgPool,
    limit: u32,
    stale_after: Duration,
) -> Result<Vec<(TenantId, CommandId)>, ClaimError> {
    let mut conn = pool.get().await.map_err(TxError::from)?;
    let rows: Vec<DueRow> = Prepared(
        diesel::sql_query("SELECT tenant_id, id FROM due_commands($1, $2)")
            .bind::<Integer, _>(limit as i32)
            .bind::<Interval, _>(interval(stale_after)),
    )
    .load(&mut conn)
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok((
                TenantId::from_uuid(r.tenant_id).map_err(|e| ClaimError::Corrupt(e.to_string()))?,
                CommandId::from_uuid(r.id).map_err(|e| ClaimError::Corrupt(e.to_string()))?,
            ))
        })
        .collect()
}

/// Claims the command if it is due (pending and not backing off, or claimed by a
/// pump that went silent). `None`: someone else has it, or it is not due.
pub(crate) async fn claim(
    pool: &PgPool,
    tenant: TenantId,
    id: CommandId,
    stale_after: Duration,
) -> Result<Option<Claimed>, ClaimError> {
    in_tenant_tx_with(pool, tenant, Durability::Lease, |conn| {
        async move {
            let claimed: Option<Claimed> = Prepared(diesel::sql_query(
                "UPDATE commands SET status = 'claimed', claimed_at = now(), attempts = attempts + 1, updated_at = now()
                 WHERE (tenant_id, id) IN (
                     SELECT tenant_id, id FROM commands
                     WHERE tenant_id = $1 AND id = $2
                       AND ((status = 'pending' AND next_attempt_at <= now())
                            OR (status = 'claimed' AND claimed_at < now() - $3))
                     FOR UPDATE SKIP LOCKED)
                 RETURNING type AS command_type, attempts",
            )
            .bind::<SqlUuid, _>(tenant.as_uuid())
            .bind::<SqlUuid, _>(id.as_uuid())
            .bind::<Interval, _>(interval(stale_after)))
            .get_result(conn)
            .await
            .optional()?;
            Ok(claimed)
        }
        .scope_boxed()
    })
    .await
}

/// The workflow started (or already existed): the command is dispatched. A
/// worker may already have finished it; then its final status stays.
pub(crate) async fn mark_dispatched(
    pool: &PgPool,
    tenant: TenantId,
    id: CommandId,
    workflow_id: &str,
) -> Result<(), ClaimError> {
    let workflow_id = workflow_id.to_owned();
    in_tenant_tx_with(pool, tenant, Durability::Lease, |conn| {
        async move {
            Prepared(diesel::sql_query(
                "UPDATE commands SET status = 'dispatched', workflow_id = $3, claimed_at = NULL, updated_at = now()
                 WHERE tenant_id = $1 AND id = $2 AND status = 'claimed'",
            )
            .bind::<SqlUuid, _>(tenant.as_uuid())
            .bind::<SqlUuid, _>(id.as_uuid())
            .bind::<Text, _>(workflow_id))
            .execute(conn)
            .await?;
            Ok(())
        }
        .scope_boxed()
    })
    .await
}

/// The start failed: back to pending, not before `retry_in`.
pub(crate) async fn release(
    pool: &PgPool,
    tenant: TenantId,
    id: CommandId,
    retry_in: Duration,
) -> Result<(), ClaimError> {
    in_tenant_tx_with(pool, tenant, Durability::Lease, |conn| {
        async move {
            Prepared(diesel::sql_query(
                "UPDATE commands SET status = 'pending', claimed_at = NULL, updated_at = now(),
                        next_attempt_at = now() + make_interval(secs => $3::double precision / 1000)
                 WHERE tenant_id = $1 AND id = $2 AND status = 'claimed'",
            )
            .bind::<SqlUuid, _>(tenant.as_uuid())
            .bind::<SqlUuid, _>(id.as_uuid())
            .bind::<BigInt, _>(retry_in.as_millis() as i64))
            .execute(conn)
            .await?;
            Ok(())
        }
        .scope_boxed()
    })
    .await
}
