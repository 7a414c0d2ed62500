//! The event store's statements, each usable inside a caller's tenant
//! transaction (the worker's unit of work runs them in its own).
//!
//! An append is ONE statement, `append_events()` (migration 000043): it bumps
//! the tenant's `tenant_sequences` row (its row lock serialises appends per
//! tenant, so seqs are gapless and commit-ordered), then, under that lock,
//! checks the stream version, inserts the events (one NOTIFY), upserts the
//! snapshot and applies every projection's changes (computed here, by the
//! domain's projections, before the round trip).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Jsonb, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use kitchen_domain::envelope::{LoadedStream, NewEvent, RecordedEvent, Snapshot, StreamRef};
use kitchen_domain::ports::{snapshot_version, StoreError};
use kitchen_domain::{Seq, TenantId, Version};
use serde_json::Value;

use super::errors::{classify, corrupt, AppendAttempt};
use super::rows::{recorded_all, AggregateRow, EventRow};
use crate::postgres::schema::{aggregates, events, tenant_sequences};
use crate::postgres::Prepared;

/// The whole append in ONE statement (`append_events()`, migration 000043):
/// the tenant's lock and seqs, the version check under it, the events (one
/// NOTIFY), the snapshot and the views. Run on its own it is one round trip
/// and its own transaction (the function sets the tenant for it); inside a
/// tenant transaction it joins it.
const APPEND_SQL: &str = "SELECT append_events($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
$12, $13, $14, $15, $16, $17, $18, $19, $20, $21) AS first_seq";

#[derive(QueryableByName)]
struct FirstSeq {
    #[diesel(sql_type = BigInt)]
    first_seq: i64,
}

/// One field of every event, as an array bind of `APPEND_SQL`.
fn column<'a, T>(events: &'a [NewEvent], field: impl Fn(&'a NewEvent) -> T) -> Vec<T> {
    events.iter().map(field).collect()
}

pub(crate) fn type_mismatch(stream: &StreamRef, actual: String) -> StoreError {
    StoreError::AggregateTypeMismatch {
        aggregate_id: stream.aggregate_id,
        expected: stream.aggregate_type.clone(),
        actual,
    }
}

/// Whether an append maintains the read models: always, except in the
/// benchmark's baseline (`PgEventStore::without_read_models`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Views {
    Maintained,
    Skipped,
}

/// The events as they will be recorded, with stand-in seqs `1..=n` (see
/// [`crate::postgres::views::append_changes`]) and the append's time.
fn to_record(
    tenant: TenantId,
    stream: &StreamRef,
    expected: Version,
    new_events: &[NewEvent],
    created_at: DateTime<Utc>,
) -> Result<Vec<RecordedEvent>, StoreError> {
    new_events
        .iter()
        .zip(1i64..)
        .map(|(e, n)| {
            Ok(RecordedEvent {
                tenant_id: tenant,
                id: e.id,
                aggregate_type: stream.aggregate_type.clone(),
                aggregate_id: stream.aggregate_id,
                version: Version::new(expected.get() + n).map_err(corrupt)?,
                seq: Seq::new(n).map_err(corrupt)?,
                event_type: e.event_type.clone(),
                schema_version: e.schema_version,
                payload: e.payload.clone(),
                causation_id: e.causation_id,
                correlation_id: e.correlation_id,
                metadata: e.metadata.clone(),
                created_at,
            })
        })
        .collect()
}

/// The append's time, at the database's precision (microseconds), so the
/// recorded events equal what a later read returns.
fn append_time() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// An append in one statement and round trip: inside the caller's tenant
/// transaction (the worker's unit of work), or on its own on a connection
/// with no transaction open (then it is its own transaction, committed when
/// the answer has been read to its end). A refused append (conflict, type
/// mismatch, duplicate event) writes nothing; inside a transaction the caller
/// MUST roll back (the statement failed).
pub(crate) async fn append_in_tx(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    stream: &StreamRef,
    expected: Version,
    new_events: &[NewEvent],
    snapshot: &Value,
) -> Result<Vec<RecordedEvent>, StoreError> {
    append_events(
        conn,
        tenant,
        stream,
        expected,
        new_events,
        snapshot,
        Views::Maintained,
    )
    .await
}

/// See [`append_in_tx`]; `views` skips the read models only for the
/// benchmark's baseline.
pub(crate) async fn append_events(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    stream: &StreamRef,
    expected: Version,
    new_events: &[NewEvent],
    snapshot: &Value,
    views: Views,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let attempt = Some(AppendAttempt::new(stream, expected, new_events));
    let schema_version = snapshot_version(stream)?;
    let created_at = append_time();
    let mut recorded = to_record(tenant, stream, expected, new_events, created_at)?;
    // The projections run here, before the round trip, on the stand-in seqs.
    let changes = match views {
        Views::Maintained => crate::postgres::views::append_changes(&recorded)?,
        Views::Skipped => Default::default(),
    };
    // `get_results` reads the answer to its end (ReadyForQuery): on its own,
    // the statement's commit is acknowledged in this same round trip.
    let rows: Vec<FirstSeq> = Prepared(
        diesel::sql_query(APPEND_SQL)
            .bind::<SqlUuid, _>(tenant.as_uuid())
            .bind::<SqlUuid, _>(stream.aggregate_id.as_uuid())
            .bind::<Text, _>(&stream.aggregate_type)
            .bind::<BigInt, _>(expected.get())
            .bind::<Timestamptz, _>(created_at)
            .bind::<Array<SqlUuid>, _>(column(new_events, |e| e.id.as_uuid()))
            .bind::<Array<Text>, _>(column(new_events, |e| e.event_type.as_str()))
            .bind::<Array<Integer>, _>(column(new_events, |e| e.schema_version))
            .bind::<Array<Jsonb>, _>(column(new_events, |e| &e.payload))
            .bind::<Array<SqlUuid>, _>(column(new_events, |e| e.causation_id))
            .bind::<Array<SqlUuid>, _>(column(new_events, |e| e.correlation_id.as_uuid()))
            .bind::<Array<Jsonb>, _>(column(new_events, |e| &e.metadata))
            .bind::<Jsonb, _>(snapshot)
            .bind::<Integer, _>(schema_version)
            .bind::<Array<Text>, _>(changes.names)
            .bind::<Array<Integer>, _>(changes.versions)
            .bind::<Array<Text>, _>(changes.projections)
            .bind::<Array<Text>, _>(changes.keys)
            .bind::<Array<Text>, _>(changes.kinds)
            .bind::<Array<Jsonb>, _>(changes.docs)
            .bind::<Array<BigInt>, _>(changes.offsets),
    )
    .get_results(conn)
    .await
    .map_err(|e| classify(e, attempt))?;
    let first_seq = rows
        .as_slice()
        .first()
        .map(|r| r.first_seq)
        .ok_or_else(|| StoreError::CorruptRow("append returned no row".into()))?;
    for (event, i) in recorded.iter_mut().zip(0i64..) {
        event.seq = Seq::new(first_seq + i).map_err(corrupt)?;
    }
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
