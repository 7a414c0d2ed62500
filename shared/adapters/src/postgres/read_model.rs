//! Reads for hydration: every aggregate of a tenant with the seq they are
//! consistent at, in one REPEATABLE READ snapshot. Snapshots are written in the
//! same transaction as their events, so "snapshot at seq N + events after N" is
//! exactly the current state.

use super::event_store::AggregateRow;
use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::RunQueryDsl;
use kitchen_domain::catalog::{rebuild_state, state_version};
use kitchen_domain::ports::StoreError;
use kitchen_domain::{LoadedStream, Seq, Snapshot, StreamRef, TenantId};
use serde::Serialize;

use super::event_store::{stream_events, PgFailure};
use super::schema::aggregates;
use super::stream::log_head_in_tx;
use super::tenant_tx::run_in_tenant_tx;
use super::PgPool;

/// All of a tenant's aggregates as of `seq`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantSnapshot {
    pub seq: Seq,
    /// The incarnation of the log `seq` belongs to (see [`super::stream::LogHead`]).
    pub epoch: uuid::Uuid,
    pub aggregates: Vec<Snapshot>,
}

/// A snapshot of an older state shape is rebuilt from its events, in the same
/// read snapshot (this role may not rewrite it; the worker does on its next
/// command). Snapshots already current pass through untouched.
async fn current_shape(
    conn: &mut diesel_async::AsyncPgConnection,
    tenant: TenantId,
    snapshot: Snapshot,
) -> Result<Snapshot, StoreError> {
    let current = state_version(&snapshot.aggregate_type)
        .ok_or_else(|| StoreError::UnknownAggregateType(snapshot.aggregate_type.clone()))?;
    if snapshot.schema_version == current {
        return Ok(snapshot);
    }
    let stream = StreamRef::new(snapshot.aggregate_type.clone(), snapshot.aggregate_id);
    let events = stream_events(conn, tenant, &stream, 0).await?;
    let loaded = LoadedStream {
        snapshot: None,
        events,
    };
    let state = rebuild_state(&stream.aggregate_type, &loaded)
        .map_err(|e| StoreError::CorruptRow(e.to_string()))?;
    Ok(Snapshot {
        schema_version: current,
        state,
        ..snapshot
    })
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
        .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
    run_in_tenant_tx::<_, PgFailure, _>(
        &mut conn,
        tenant,
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        |conn| {
            async move {
                let head = log_head_in_tx(conn, tenant).await?;
                let rows: Vec<AggregateRow> = aggregates::table
                    .filter(aggregates::tenant_id.eq(tenant.as_uuid()))
                    .order(aggregates::seq.asc())
                    .select(AggregateRow::as_select())
                    .load(conn)
                    .await?;
                let mut snapshots = Vec::with_capacity(rows.len());
                for row in rows {
                    snapshots.push(current_shape(conn, tenant, Snapshot::try_from(row)?).await?);
                }
                Ok(TenantSnapshot {
                    seq: head.seq,
                    epoch: head.epoch,
                    aggregates: snapshots,
                })
            }
            .scope_boxed()
        },
    )
    .await
    .map_err(|f| f.into_store_error(None))
}
