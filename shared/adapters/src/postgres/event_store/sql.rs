//! The event store's statements, each usable inside a caller's tenant
//! transaction (the worker's unit of work runs them in its own).
//!
//! An append is three statements: bump the tenant's `tenant_sequences` row (its
//! row lock serialises appends per tenant, so seqs are gapless and
//! commit-ordered), then, under that lock, check the stream version, insert the
//! events (one NOTIFY) and upsert the snapshot in one statement, then apply
//! every projection's changes in one more (`postgres::views`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Integer, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use kitchen_domain::envelope::{LoadedStream, NewEvent, RecordedEvent, Snapshot, StreamRef};
use kitchen_domain::ports::{snapshot_version, StoreError};
use kitchen_domain::{Seq, TenantId, Version};
use serde_json::Value;

use super::errors::{classify, corrupt, AppendAttempt};
use super::rows::{recorded_all, AggregateRow, EventRow};
use crate::postgres::schema::{aggregates, events, tenant_sequences};
use crate::postgres::Prepared;

/// Checks the stream version, inserts the events and upserts the snapshot in
/// ONE statement (one round trip, one NOTIFY). It runs after the tenant lock is
/// taken, so its snapshot of `aggregates` already sees every earlier append of
/// the tenant: the check is exact. One row comes back per inserted event, or a
/// single row with a NULL seq when the check failed (nothing was written).
const APPEND_SQL: &str = "\
WITH current AS MATERIALIZED (
    SELECT type AS aggregate_type, version FROM aggregates WHERE tenant_id = $1 AND id = $2
), verdict AS MATERIALIZED (
    SELECT (SELECT aggregate_type FROM current) AS actual_type,
           COALESCE((SELECT version FROM current), 0) AS actual_version
), accepted AS MATERIALIZED (
    SELECT 1 FROM verdict WHERE actual_version = $4 AND (actual_type IS NULL OR actual_type = $3)
), inserted AS (
    INSERT INTO events (tenant_id, id, aggregate_type, aggregate_id, version, seq, type,
                        schema_version, payload, causation_id, correlation_id, metadata)
    SELECT $1, e.id, $3, $2, $4 + e.n, $5 + e.n - 1, e.event_type, e.schema_version, e.payload,
           e.causation_id, e.correlation_id, e.metadata
    FROM unnest($6::uuid[], $7::text[], $8::int4[], $9::jsonb[], $10::uuid[], $11::uuid[], $12::jsonb[])
         WITH ORDINALITY AS e(id, event_type, schema_version, payload, causation_id, correlation_id, metadata, n)
    WHERE EXISTS (SELECT 1 FROM accepted)
    RETURNING seq, created_at
), snapshot AS (
    INSERT INTO aggregates (tenant_id, id, type, snapshot, version, seq, schema_version)
    SELECT $1, $2, $3, $13, $4 + $14, $5 + $14 - 1, $15 FROM accepted
    ON CONFLICT (tenant_id, id) DO UPDATE
        SET snapshot = EXCLUDED.snapshot, version = EXCLUDED.version, seq = EXCLUDED.seq,
            schema_version = EXCLUDED.schema_version, updated_at = now()
)
SELECT verdict.actual_type, verdict.actual_version, inserted.seq, inserted.created_at
FROM verdict LEFT JOIN inserted ON true";

/// A row of `APPEND_SQL`'s answer.
#[derive(QueryableByName)]
struct AppendRow {
    #[diesel(sql_type = Nullable<Text>)]
    actual_type: Option<String>,
    #[diesel(sql_type = BigInt)]
    actual_version: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    seq: Option<i64>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    created_at: Option<DateTime<Utc>>,
}

/// One field of every event, as an array bind of `APPEND_SQL`.
fn column<'a, T>(events: &'a [NewEvent], field: impl Fn(&'a NewEvent) -> T) -> Vec<T> {
    events.iter().map(field).collect()
}

fn missing_row(what: String) -> StoreError {
    StoreError::CorruptRow(what)
}

pub(crate) fn type_mismatch(stream: &StreamRef, actual: String) -> StoreError {
    StoreError::AggregateTypeMismatch {
        aggregate_id: stream.aggregate_id,
        expected: stream.aggregate_type.clone(),
        actual,
    }
}

/// The body of `append`, inside the caller's tenant transaction: three round
/// trips, all kept prepared. The tenant's lock is held from the first
/// statement to the commit. On any error the caller MUST roll back: the seq
/// counter was already bumped.
pub(crate) async fn append_in_tx(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    stream: &StreamRef,
    expected: Version,
    new_events: &[NewEvent],
    snapshot: &Value,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let recorded =
        append_events_in_tx(conn, tenant, stream, expected, new_events, snapshot).await?;
    // 3. The read models, still under the lock: "view at seq N" is exact.
    crate::postgres::views::apply_append(conn, tenant, &recorded).await?;
    Ok(recorded)
}

/// Statements 1 and 2 of an append: the events and the snapshot, no views.
/// Only `append_in_tx` and the benchmark's baseline call it.
pub(crate) async fn append_events_in_tx(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    stream: &StreamRef,
    expected: Version,
    new_events: &[NewEvent],
    snapshot: &Value,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let attempt = Some(AppendAttempt::new(stream, expected, new_events));
    let schema_version = snapshot_version(stream)?;
    let count = new_events.len() as i64;
    // 1. Take the tenant's lock and reserve seqs. Everything after this line runs
    //    with every other append of this tenant waiting, in commit order.
    let last_seq: i64 = Prepared(
        diesel::insert_into(tenant_sequences::table)
            .values((
                tenant_sequences::tenant_id.eq(tenant.as_uuid()),
                tenant_sequences::last_seq.eq(count),
            ))
            .on_conflict(tenant_sequences::tenant_id)
            .do_update()
            .set((
                tenant_sequences::last_seq.eq(tenant_sequences::last_seq + count),
                tenant_sequences::updated_at.eq(diesel::dsl::now),
            ))
            .returning(tenant_sequences::last_seq),
    )
    .get_result(conn)
    .await
    .map_err(|e| classify(e, attempt))?;
    let first_seq = last_seq - count + 1;

    // 2. Check, insert and snapshot in one statement.
    let rows: Vec<AppendRow> = Prepared(
        diesel::sql_query(APPEND_SQL)
            .bind::<SqlUuid, _>(tenant.as_uuid())
            .bind::<SqlUuid, _>(stream.aggregate_id.as_uuid())
            .bind::<Text, _>(&stream.aggregate_type)
            .bind::<BigInt, _>(expected.get())
            .bind::<BigInt, _>(first_seq)
            .bind::<Array<SqlUuid>, _>(column(new_events, |e| e.id.as_uuid()))
            .bind::<Array<Text>, _>(column(new_events, |e| e.event_type.as_str()))
            .bind::<Array<Integer>, _>(column(new_events, |e| e.schema_version))
            .bind::<Array<Jsonb>, _>(column(new_events, |e| &e.payload))
            .bind::<Array<SqlUuid>, _>(column(new_events, |e| e.causation_id))
            .bind::<Array<SqlUuid>, _>(column(new_events, |e| e.correlation_id.as_uuid()))
            .bind::<Array<Jsonb>, _>(column(new_events, |e| &e.metadata))
            .bind::<Jsonb, _>(snapshot)
            .bind::<BigInt, _>(count)
            .bind::<Integer, _>(schema_version),
    )
    .load(conn)
    .await
    .map_err(|e| classify(e, attempt))?;
    let verdict = rows
        .as_slice()
        .first()
        .ok_or_else(|| missing_row("append returned no row".into()))?;
    match &verdict.actual_type {
        Some(actual_type) if *actual_type != stream.aggregate_type => {
            return Err(type_mismatch(stream, actual_type.clone()))
        }
        _ => {}
    }
    let actual = Version::new(verdict.actual_version).map_err(corrupt)?;
    if actual != expected {
        return Err(StoreError::Conflict {
            aggregate_id: stream.aggregate_id,
            expected,
            actual: Some(actual),
        });
    }
    let created_at = |seq: i64| {
        rows.iter()
            .find(|r| r.seq == Some(seq))
            .and_then(|r| r.created_at)
    };
    let recorded = new_events
        .iter()
        .zip(0i64..)
        .map(|(e, i)| {
            let seq = first_seq + i;
            Ok(RecordedEvent {
                tenant_id: tenant,
                id: e.id,
                aggregate_type: stream.aggregate_type.clone(),
                aggregate_id: stream.aggregate_id,
                version: Version::new(expected.get() + i + 1).map_err(corrupt)?,
                seq: Seq::new(seq).map_err(corrupt)?,
                event_type: e.event_type.clone(),
                schema_version: e.schema_version,
                payload: e.payload.clone(),
                causation_id: e.causation_id,
                correlation_id: e.correlation_id,
                metadata: e.metadata.clone(),
                created_at: created_at(seq)
                    .ok_or_else(|| missing_row(format!("append returned no row for seq {seq}")))?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(recorded)
}

/// The events of one aggregate after `after_version`, upcast.
pub(crate) async fn stream_events(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    stream: &StreamRef,
    after_version: i64,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows: Vec<EventRow> = events::table
        .filter(events::tenant_id.eq(tenant.as_uuid()))
        .filter(events::aggregate_id.eq(stream.aggregate_id.as_uuid()))
        .filter(events::version.gt(after_version))
        .order(events::version.asc())
        .select(EventRow::as_select())
        .load(conn)
        .await
        .map_err(|e| classify(e, None))?;
    recorded_all(rows)
}

/// The body of `load`, inside the caller's tenant transaction. A snapshot of
/// an older state shape is left out and every event loaded instead.
pub(crate) async fn load_in_tx(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    stream: &StreamRef,
) -> Result<LoadedStream, StoreError> {
    let row: Option<AggregateRow> = aggregates::table
        .filter(aggregates::tenant_id.eq(tenant.as_uuid()))
        .filter(aggregates::id.eq(stream.aggregate_id.as_uuid()))
        .select(AggregateRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(|e| classify(e, None))?;
    let snapshot = row.map(Snapshot::try_from).transpose()?;
    if let Some(s) = &snapshot {
        if s.aggregate_type != stream.aggregate_type {
            return Err(type_mismatch(stream, s.aggregate_type.clone()));
        }
    }
    let current_shape = snapshot_version(stream)?;
    let snapshot = snapshot.filter(|s| s.schema_version == current_shape);
    let after = snapshot.as_ref().map(|s| s.version.get()).unwrap_or(0);
    let events = stream_events(conn, tenant, stream, after).await?;
    Ok(LoadedStream { snapshot, events })
}

/// Writes the current-shape `state` of a stream rebuilt from all its events
/// (its snapshot was missing or of an older shape), at the stream's version.
pub(crate) async fn rewrite_snapshot_in_tx(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    stream: &StreamRef,
    loaded: &LoadedStream,
    state: &Value,
) -> Result<(), StoreError> {
    let Some(last) = loaded.events.last() else {
        return Ok(());
    };
    let schema_version = snapshot_version(stream)?;
    diesel::insert_into(aggregates::table)
        .values((
            aggregates::tenant_id.eq(tenant.as_uuid()),
            aggregates::id.eq(stream.aggregate_id.as_uuid()),
            aggregates::aggregate_type.eq(&stream.aggregate_type),
            aggregates::snapshot.eq(state),
            aggregates::version.eq(last.version.get()),
            aggregates::seq.eq(last.seq.get()),
            aggregates::schema_version.eq(schema_version),
        ))
        .on_conflict((aggregates::tenant_id, aggregates::id))
        .do_update()
        .set((
            aggregates::snapshot.eq(state),
            aggregates::version.eq(last.version.get()),
            aggregates::seq.eq(last.seq.get()),
            aggregates::schema_version.eq(schema_version),
            aggregates::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(|e| classify(e, None))
}

/// Up to `limit` events of the tenant after `after`, upcast.
pub(crate) async fn read_in_tx(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    after: Seq,
    limit: u32,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows: Vec<EventRow> = events::table
        .filter(events::tenant_id.eq(tenant.as_uuid()))
        .filter(events::seq.gt(after.get()))
        .order(events::seq.asc())
        .limit(i64::from(limit))
        .select(EventRow::as_select())
        .load(conn)
        .await
        .map_err(|e| classify(e, None))?;
    recorded_all(rows)
}

/// The tenant's highest committed seq (0 when it has no events).
pub(crate) async fn head_in_tx(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
) -> Result<Seq, StoreError> {
    let last: Option<i64> = tenant_sequences::table
        .filter(tenant_sequences::tenant_id.eq(tenant.as_uuid()))
        .select(tenant_sequences::last_seq)
        .first(conn)
        .await
        .optional()
        .map_err(|e| classify(e, None))?;
    Seq::new(last.unwrap_or(0)).map_err(corrupt)
}
