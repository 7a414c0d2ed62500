//! The pump's SQL: the cross-tenant work list, and claim / dispatched / release,
//! each one statement and round trip (functions of migration 000007, run as the
//! pump under RLS: each sets the tenant for its own transaction and uses only
//! routing columns). Those commits are leases (synchronous_commit off): one
//! lost in a database crash is redone (the command is claimed again; its
//! workflow start is idempotent), so they do not wait for the WAL flush. Each
//! statement stays prepared on its connection (`Prepared`).

use std::time::Duration;

use diesel::sql_types::{BigInt, Bool, Integer, Interval, Nullable, Text, Uuid as SqlUuid};
use diesel::{OptionalExtension, QueryableByName};
use diesel_async::RunQueryDsl;
use kitchen_adapters::postgres::{PgPool, Prepared, TxError};
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
#[derive(Debug)]
pub(crate) struct Claimed {
    pub(crate) command_type: String,
    pub(crate) attempts: i32,
    pub(crate) correlation_id: Uuid,
}

/// What `claim_command()` answered.
#[derive(Debug)]
pub(crate) enum Claim {
    Claimed(Claimed),
    /// Its tenant already has `max_in_flight` commands in flight: nothing claimed.
    AtCap,
    /// Not due (someone else has it, or it is final or backing off).
    NotDue,
}

#[derive(QueryableByName)]
struct ClaimRow {
    #[diesel(sql_type = Nullable<Text>)]
    command_type: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    attempts: Option<i32>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    correlation_id: Option<Uuid>,
    #[diesel(sql_type = Bool)]
    at_cap: bool,
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
/// pump that went silent) and its tenant has fewer than `max_in_flight`
/// commands in flight (0: no cap; migration 000041).
pub(crate) async fn claim(
    pool: &PgPool,
    tenant: TenantId,
    id: CommandId,
    stale_after: Duration,
    max_in_flight: u32,
) -> Result<Claim, ClaimError> {
    let mut conn = pool.get().await.map_err(TxError::from)?;
    let row: Option<ClaimRow> = Prepared(
        diesel::sql_query(
            "SELECT claimed_type AS command_type, claimed_attempts AS attempts,
                    claimed_correlation AS correlation_id, at_cap
             FROM claim_command($1, $2, $3, $4)",
        )
        .bind::<SqlUuid, _>(tenant.as_uuid())
        .bind::<SqlUuid, _>(id.as_uuid())
        .bind::<Interval, _>(interval(stale_after))
        .bind::<Integer, _>(i32::try_from(max_in_flight).unwrap_or(i32::MAX)),
    )
    .get_result(&mut conn)
    .await
    .optional()?;
    Ok(match row {
        None => Claim::NotDue,
        Some(row) if row.at_cap => Claim::AtCap,
        Some(ClaimRow {
            command_type: Some(command_type),
            attempts: Some(attempts),
            correlation_id: Some(correlation_id),
            ..
        }) => Claim::Claimed(Claimed {
            command_type,
            attempts,
            correlation_id,
        }),
        Some(_) => return Err(ClaimError::Corrupt("claim without its columns".into())),
    })
}

/// The workflow started (or already existed): the command is dispatched. A
/// worker may already have finished it; then its final status stays.
pub(crate) async fn mark_dispatched(
    pool: &PgPool,
    tenant: TenantId,
    id: CommandId,
    workflow_id: &str,
) -> Result<(), ClaimError> {
    let mut conn = pool.get().await.map_err(TxError::from)?;
    Prepared(
        diesel::sql_query("SELECT mark_command_dispatched($1, $2, $3)")
            .bind::<SqlUuid, _>(tenant.as_uuid())
            .bind::<SqlUuid, _>(id.as_uuid())
            .bind::<Text, _>(workflow_id),
    )
    .execute(&mut conn)
    .await?;
    Ok(())
}

/// The start failed: back to pending, not before `retry_in`.
pub(crate) async fn release(
    pool: &PgPool,
    tenant: TenantId,
    id: CommandId,
    retry_in: Duration,
) -> Result<(), ClaimError> {
    let mut conn = pool.get().await.map_err(TxError::from)?;
    Prepared(
        diesel::sql_query("SELECT release_command($1, $2, $3)")
            .bind::<SqlUuid, _>(tenant.as_uuid())
            .bind::<SqlUuid, _>(id.as_uuid())
            .bind::<BigInt, _>(retry_in.as_millis() as i64),
    )
    .execute(&mut conn)
    .await?;
    Ok(())
}

/// The command can never be routed (its workflow is closed): `rejected` with
/// `code` and `reason` (migration 000015's `reject_command()`).
pub(crate) async fn reject(
    pool: &PgPool,
    tenant: TenantId,
    id: CommandId,
    code: &str,
    reason: &str,
) -> Result<(), ClaimError> {
    let mut conn = pool.get().await.map_err(TxError::from)?;
    diesel::sql_query("SELECT reject_command($1, $2, $3, $4)")
        .bind::<SqlUuid, _>(tenant.as_uuid())
        .bind::<SqlUuid, _>(id.as_uuid())
        .bind::<Text, _>(code)
        .bind::<Text, _>(reason)
        .execute(&mut conn)
        .await?;
    Ok(())
}
