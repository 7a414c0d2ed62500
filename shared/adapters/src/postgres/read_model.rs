//! Reads for hydration: every aggregate of a tenant with the seq they are
//! consistent at, in one REPEATABLE READ snapshot. Snapshots are written in the
//! same transaction as their events, so "snapshot at seq N + events after N" is
//! exactly the current state.

use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::RunQueryDsl;
use kitchen_domain::ports::StoreError;
use kitchen_domain::{AggregateId, Seq, Snapshot, TenantId, Version};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::schema::{aggregates, tenant_sequences};
use super::tenant_tx::{run_in_tenant_tx, TxError};
use super::PgPool;

/// All of a tenant's aggregates as of `seq`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantSnapshot {
    pub seq: Seq,
    pub aggregates: Vec<Snapshot>,
}

#[derive(Queryable)]
struct Row {
    id: Uuid,
    aggregate_type: String,
    snapshot: Value,
    version: i64,
    seq: i64,
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

/// Reads the tenant's snapshot (see the module docs).
#[tracing::instrument(skip(pool), fields(tenant_id = %tenant))]
pub async fn tenant_snapshot(
    pool: &PgPool,
    tenant: TenantId,
) -> Result<TenantSnapshot, StoreError> {
    let mut conn = pool
        .get()
        .await
        .map_err(|e| unavailable(TxError::from(e)))?;
    let (seq, rows) = run_in_tenant_tx::<_, diesel::result::Error, _>(
        &mut conn,
        tenant,
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        |conn| {
            async move {
                let seq: Option<i64> = tenant_sequences::table
                    .filter(tenant_sequences::tenant_id.eq(tenant.as_uuid()))
                    .select(tenant_sequences::last_seq)
                    .first(conn)
                    .await
                    .optional()?;
                let rows: Vec<Row> = aggregates::table
                    .filter(aggregates::tenant_id.eq(tenant.as_uuid()))
                    .order(aggregates::seq.asc())
                    .select((
                        aggregates::id,
                        aggregates::aggregate_type,
                        aggregates::snapshot,
                        aggregates::version,
                        aggregates::seq,
                    ))
                    .load(conn)
                    .await?;
                Ok((seq.unwrap_or(0), rows))
            }
            .scope_boxed()
        },
    )
    .await
    .map_err(unavailable)?;
    let corrupt = |e: kitchen_domain::IdError| StoreError::CorruptSnapshot {
        aggregate_id: AggregateId::new_random(),
        reason: e.to_string(),
    };
    let aggregates = rows
        .into_iter()
        .map(|r| {
            Ok(Snapshot {
                aggregate_type: r.aggregate_type,
                aggregate_id: AggregateId::from_uuid(r.id).map_err(corrupt)?,
                version: Version::new(r.version).map_err(corrupt)?,
                seq: Seq::new(r.seq).map_err(corrupt)?,
                state: r.snapshot,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(TenantSnapshot {
        seq: Seq::new(seq).map_err(corrupt)?,
        aggregates,
    })
}
