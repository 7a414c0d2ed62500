//! Reads for hydration: every aggregate of a tenant with the seq they are
//! consistent at, in one REPEATABLE READ snapshot. Snapshots are written in the
//! same transaction as their events, so "snapshot at seq N + events after N" is
//! exactly the current state.
//!
//! The hot path is [`tenant_snapshot_json`]: the response body of
//! `GET /v1/snapshot` written around the states as PostgreSQL prints them, so
//! snapshots already at their current shape pass through as stored, never
//! decoded and encoded again. (Building the whole body in SQL, with
//! `string_agg` or `json_agg`, measured 1.5-2.5x the plain read of the same
//! rows; writing the frame around the state text here costs a copy.) Only
//! a tenant holding a snapshot of an older shape (or of a type this release
//! does not know) takes the decoding path, [`tenant_snapshot`], which rebuilds
//! such snapshots from their events.

use super::event_store::AggregateRow;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text, Uuid as SqlUuid};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::RunQueryDsl;
use kitchen_domain::catalog::{rebuild_state, state_version};
use kitchen_domain::ports::StoreError;
use kitchen_domain::{LoadedStream, Seq, Snapshot, StreamRef, TenantId};
use serde::Serialize;

use super::event_store::{stream_events, PgFailure};
use super::schema::aggregates;
use super::stream::{log_head_in_tx, LogHead};
use super::tenant_tx::run_in_tenant_tx;
use super::{PgPool, Prepared};

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

/// Every aggregate of the tenant in seq order, its state as the JSON text
/// PostgreSQL prints for the stored JSONB (the same conversion a plain read of
/// the column costs): never decoded into values and encoded again.
const SNAPSHOT_ROWS_SQL: &str = "\
SELECT id, type, version, seq, schema_version, snapshot::text AS state
FROM aggregates WHERE tenant_id = $1 ORDER BY seq";

#[derive(QueryableByName)]
struct StateRow {
    #[diesel(sql_type = SqlUuid)]
    id: uuid::Uuid,
    #[diesel(sql_type = Text)]
    r#type: String,
    #[diesel(sql_type = BigInt)]
    version: i64,
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = Integer)]
    schema_version: i32,
    #[diesel(sql_type = Text)]
    state: String,
}

/// The body `kitchen_wire::TenantSnapshotView` encodes to (its fields, in its
/// order, compact), with each `state` as PostgreSQL printed it (the same JSON
/// value; JSONB's key order, a space after `:` and `,`).
fn snapshot_body(head: LogHead, rows: &[StateRow]) -> Result<String, StoreError> {
    use std::fmt::Write;
    let size = rows.iter().map(|r| r.state.len() + 160).sum::<usize>() + 80;
    let mut body = String::with_capacity(size);
    let text = |e: serde_json::Error| StoreError::CorruptRow(e.to_string());
    let _ = write!(
        body,
        r#"{{"seq":{},"epoch":"{}","aggregates":["#,
        head.seq.get(),
        head.epoch
    );
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        let _ = write!(
            body,
            r#"{{"aggregateType":{},"aggregateId":"{}","version":{},"seq":{},"schemaVersion":{},"state":"#,
            serde_json::to_string(&row.r#type).map_err(text)?,
            row.id,
            row.version,
            row.seq,
            row.schema_version,
        );
        body.push_str(&row.state);
        body.push('}');
    }
    body.push_str("]}");
    Ok(body)
}

/// What [`tenant_snapshot_json`] read: the body PostgreSQL wrote, or, when
/// some snapshot had to be rebuilt, the decoded snapshot for the caller to
/// encode.
#[derive(Debug)]
pub enum SnapshotBody {
    Json(String),
    Decoded(TenantSnapshot),
}

/// Reads the tenant's snapshot as a response body (see the module docs), in
/// one REPEATABLE READ transaction: the fallback, if needed, reads the same
/// data the JSON query saw.
#[tracing::instrument(skip(pool), fields(tenant_id = %tenant))]
pub async fn tenant_snapshot_json(
    pool: &PgPool,
    tenant: TenantId,
) -> Result<SnapshotBody, StoreError> {
    read_only_tenant_tx(pool, tenant, move |conn| {
        async move {
            let head = log_head_in_tx(conn, tenant).await?;
            let rows: Vec<StateRow> =
                Prepared(diesel::sql_query(SNAPSHOT_ROWS_SQL).bind::<SqlUuid, _>(tenant.as_uuid()))
                    .load(conn)
                    .await?;
            let all_current = rows
                .iter()
                .all(|r| state_version(&r.r#type) == Some(r.schema_version));
            if all_current {
                return Ok(SnapshotBody::Json(snapshot_body(head, &rows)?));
            }
            tracing::debug!("a snapshot of an older shape: decoding the tenant's snapshot");
            Ok(SnapshotBody::Decoded(snapshot_in_tx(conn, tenant).await?))
        }
        .scope_boxed()
    })
    .await
}

/// Reads the tenant's snapshot, decoded (see the module docs).
#[tracing::instrument(skip(pool), fields(tenant_id = %tenant))]
pub async fn tenant_snapshot(
    pool: &PgPool,
    tenant: TenantId,
) -> Result<TenantSnapshot, StoreError> {
    read_only_tenant_tx(pool, tenant, move |conn| {
        async move { snapshot_in_tx(conn, tenant).await }.scope_boxed()
    })
    .await
}

async fn snapshot_in_tx(
    conn: &mut diesel_async::AsyncPgConnection,
    tenant: TenantId,
) -> Result<TenantSnapshot, PgFailure> {
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

/// Runs `work` in a REPEATABLE READ READ ONLY transaction of `tenant`.
async fn read_only_tenant_tx<'a, T, F>(
    pool: &PgPool,
    tenant: TenantId,
    work: F,
) -> Result<T, StoreError>
where
    F: for<'r> FnOnce(
            &'r mut diesel_async::AsyncPgConnection,
        ) -> diesel_async::scoped_futures::ScopedBoxFuture<
            'a,
            'r,
            Result<T, PgFailure>,
        > + Send
        + 'a,
    T: Send + 'a,
{
    let mut conn = pool
        .get()
        .await
        .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
    run_in_tenant_tx::<_, PgFailure, _>(
        &mut conn,
        tenant,
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        work,
    )
    .await
    .map_err(|f| f.into_store_error(None))
}
