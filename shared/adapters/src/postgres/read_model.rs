//! Reads for hydration: every aggregate of a tenant with the seq they are
//! consistent at, in one REPEATABLE READ snapshot. Snapshots are written in the
//! same transaction as their events, so "snapshot at seq N + events after N" is
//! exactly the current state.
//!
//! The hot path is [`tenant_snapshot_json`]: PostgreSQL writes the response
//! body itself (`GET /v1/snapshot`), so snapshots already at their current
//! shape pass through as stored, never decoded and encoded again in Rust. Only
//! a tenant holding a snapshot of an older shape (or of a type this release
//! does not know) takes the decoding path, [`tenant_snapshot`], which rebuilds
//! such snapshots from their events.

use super::event_store::AggregateRow;
use diesel::prelude::*;
use diesel::sql_types::{Array, Bool, Integer, Text, Uuid as SqlUuid};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::RunQueryDsl;
use kitchen_domain::catalog::{rebuild_state, state_version, AGGREGATE_TYPES};
use kitchen_domain::ports::StoreError;
use kitchen_domain::{LoadedStream, Seq, Snapshot, StreamRef, TenantId};
use serde::Serialize;

use super::event_store::{stream_events, PgFailure};
use super::schema::aggregates;
use super::stream::log_head_in_tx;
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

/// The body of `GET /v1/snapshot`, as JSON text written by PostgreSQL in ONE
/// query (the head and every aggregate in one statement, so one snapshot of
/// the data): `{"seq","epoch","aggregates":[{"aggregateType","aggregateId",
/// "version","seq","schemaVersion","state"}]}` in seq order, the fields and
/// their order those of `kitchen_wire::TenantSnapshotView`, compact; `state`
/// is the stored JSONB as PostgreSQL prints it (the same value; its keys in
/// JSONB's order and with a space after `:` and `,`). `all_current` is false
/// when some snapshot is not at its type's current shape `$3` (types `$2`):
/// then the body is not used.
const SNAPSHOT_JSON_SQL: &str = r#"
WITH head AS (
    SELECT last_seq, epoch FROM tenant_sequences WHERE tenant_id = $1
), shape AS (
    SELECT * FROM unnest($2::text[], $3::int4[]) AS c(type, version)
), rows AS (
    SELECT a.seq, a.id, a.type, a.version, a.snapshot, a.schema_version,
           s.version IS NOT DISTINCT FROM a.schema_version AS current
    FROM aggregates a LEFT JOIN shape s ON s.type = a.type
    WHERE a.tenant_id = $1
)
SELECT coalesce(bool_and(r.current), true) AS all_current,
       '{"seq":' || coalesce((SELECT last_seq FROM head), 0)
       || ',"epoch":"' || coalesce((SELECT epoch FROM head), '00000000-0000-0000-0000-000000000000')
       || '","aggregates":['
       || coalesce(string_agg(
              '{"aggregateType":' || to_json(r.type)::text
              || ',"aggregateId":"' || r.id
              || '","version":' || r.version
              || ',"seq":' || r.seq
              || ',"schemaVersion":' || r.schema_version
              || ',"state":' || r.snapshot::text || '}',
              ',' ORDER BY r.seq), '')
       || ']}' AS body
FROM rows r"#;

#[derive(QueryableByName)]
struct SnapshotJson {
    #[diesel(sql_type = Bool)]
    all_current: bool,
    #[diesel(sql_type = Text)]
    body: String,
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
    let types: Vec<&str> = AGGREGATE_TYPES.to_vec();
    let shapes: Vec<i32> = types
        .iter()
        .map(|t| state_version(t).unwrap_or(-1))
        .collect();
    read_only_tenant_tx(pool, tenant, move |conn| {
        async move {
            let found: SnapshotJson = Prepared(
                diesel::sql_query(SNAPSHOT_JSON_SQL)
                    .bind::<SqlUuid, _>(tenant.as_uuid())
                    .bind::<Array<Text>, _>(types)
                    .bind::<Array<Integer>, _>(shapes),
            )
            .get_result(conn)
            .await?;
            if found.all_current {
                return Ok(SnapshotBody::Json(found.body));
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
