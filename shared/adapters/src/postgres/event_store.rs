//! `EventStore` on Postgres.
//!
//! An append is one transaction of two statements: bump the tenant's
//! `tenant_sequences` row (its row lock serialises appends per tenant, so seqs
//! are gapless and commit-ordered), then, under that lock, check the stream
//! version, insert the events (one NOTIFY) and upsert the snapshot in one
//! statement. Any error rolls everything back.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{
    Array, BigInt, Integer, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use kitchen_domain::envelope::{LoadedStream, NewEvent, RecordedEvent, Snapshot, StreamRef};
use kitchen_domain::ports::{check_append, check_read_limit, EventStore, StoreError};
use kitchen_domain::{AggregateId, EventId, IdError, Seq, TenantId, Version};
use serde_json::Value;
use uuid::Uuid;

use super::schema::{aggregates, events, tenant_sequences};
use super::tenant_tx::{in_tenant_tx, TxError};
use super::{PgPool, Prepared};

/// The Postgres event store. Cheap to clone (shares the pool).
#[derive(Clone)]
pub struct PgEventStore {
    pool: PgPool,
}

impl std::fmt::Debug for PgEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgEventStore").finish_non_exhaustive()
    }
}

impl PgEventStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Errors inside a store transaction, before they become `StoreError`.
#[derive(Debug)]
pub(crate) enum Failure {
    Store(StoreError),
    Db(DieselError),
    Tx(TxError),
}

impl From<DieselError> for Failure {
    fn from(e: DieselError) -> Self {
        Failure::Db(e)
    }
}
impl From<TxError> for Failure {
    fn from(e: TxError) -> Self {
        Failure::Tx(e)
    }
}
impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

impl Failure {
    pub(crate) fn into_store_error(
        self,
        stream: Option<&StreamRef>,
        expected: Version,
        first: Option<EventId>,
    ) -> StoreError {
        match self {
            Failure::Store(e) => e,
            Failure::Tx(e) => StoreError::Unavailable(Box::new(e)),
            Failure::Db(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)) => {
                match (info.constraint_name(), stream) {
                    // Only reachable if something bypasses the tenant lock.
                    (Some("events_stream_version_key"), Some(stream)) => StoreError::Conflict {
                        aggregate_id: stream.aggregate_id,
                        expected,
                        actual: expected.advanced(1),
                    },
                    (Some("events_pkey"), _) => StoreError::DuplicateEvent(
                        duplicate_id(info.details())
                            .or(first)
                            .unwrap_or_else(EventId::new_random),
                    ),
                    _ => StoreError::Unavailable(Box::new(DieselError::DatabaseError(
                        DatabaseErrorKind::UniqueViolation,
                        info,
                    ))),
                }
            }
            Failure::Db(e) => StoreError::Unavailable(Box::new(e)),
        }
    }
}

/// Extracts the event id from `Key (tenant_id, id)=(…, <id>) already exists.`
fn duplicate_id(details: Option<&str>) -> Option<EventId> {
    let values = details?.split(")=(").nth(1)?;
    let id = values.split(')').next()?.split(", ").nth(1)?;
    id.parse().ok()
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = events)]
struct EventRow {
    tenant_id: Uuid,
    id: Uuid,
    aggregate_type: String,
    aggregate_id: Uuid,
    version: i64,
    seq: i64,
    event_type: String,
    schema_version: i32,
    payload: Value,
    causation_id: Uuid,
    correlation_id: Uuid,
    metadata: Value,
    created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = aggregates)]
struct AggregateRow {
    id: Uuid,
    aggregate_type: String,
    snapshot: Value,
    version: i64,
    seq: i64,
}

fn corrupt(e: IdError) -> DieselError {
    DieselError::DeserializationError(Box::new(e))
}

impl TryFrom<EventRow> for RecordedEvent {
    type Error = DieselError;
    fn try_from(row: EventRow) -> Result<Self, DieselError> {
        Ok(RecordedEvent {
            tenant_id: TenantId::from_uuid(row.tenant_id).map_err(corrupt)?,
            id: EventId::from_uuid(row.id).map_err(corrupt)?,
            aggregate_type: row.aggregate_type,
            aggregate_id: AggregateId::from_uuid(row.aggregate_id).map_err(corrupt)?,
            version: Version::new(row.version).map_err(corrupt)?,
            seq: Seq::new(row.seq).map_err(corrupt)?,
            event_type: row.event_type,
            schema_version: row.schema_version,
            payload: row.payload,
            causation_id: row.causation_id,
            correlation_id: row.correlation_id.try_into().map_err(corrupt)?,
            metadata: row.metadata,
            created_at: row.created_at,
        })
    }
}

impl TryFrom<AggregateRow> for Snapshot {
    type Error = DieselError;
    fn try_from(row: AggregateRow) -> Result<Self, DieselError> {
        Ok(Snapshot {
            aggregate_type: row.aggregate_type,
            aggregate_id: AggregateId::from_uuid(row.id).map_err(corrupt)?,
            version: Version::new(row.version).map_err(corrupt)?,
            seq: Seq::new(row.seq).map_err(corrupt)?,
            state: row.snapshot,
        })
    }
}

fn type_mismatch(stream: &StreamRef, actual: String) -> StoreError {
    StoreError::AggregateTypeMismatch {
        aggregate_id: stream.aggregate_id,
        expected: stream.aggregate_type.clone(),
        actual,
    }
}

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
    INSERT INTO aggregates (tenant_id, id, type, snapshot, version, seq)
    SELECT $1, $2, $3, $13, $4 + $14, $5 + $14 - 1 FROM accepted
    ON CONFLICT (tenant_id, id) DO UPDATE
        SET snapshot = EXCLUDED.snapshot, version = EXCLUDED.version, seq = EXCLUDED.seq, updated_at = now()
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

fn missing_row(what: String) -> Failure {
    Failure::Db(DieselError::DeserializationError(what.into()))
}

/// The body of `append`, inside the caller's tenant transaction: two round
/// trips, both kept prepared. The tenant's lock is held from the first
/// statement to the commit.
pub(crate) async fn append_in_tx(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    stream: &StreamRef,
    expected: Version,
    new_events: &[NewEvent],
    snapshot: &Value,
) -> Result<Vec<RecordedEvent>, Failure> {
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
    .await?;
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
            .bind::<BigInt, _>(count),
    )
    .load(conn)
    .await?;
    let verdict = rows
        .as_slice()
        .first()
        .ok_or_else(|| missing_row("append returned no row".into()))?;
    match &verdict.actual_type {
        Some(actual_type) if *actual_type != stream.aggregate_type => {
            return Err(type_mismatch(stream, actual_type.clone()).into())
        }
        _ => {}
    }
    let actual = Version::new(verdict.actual_version).map_err(corrupt)?;
    if actual != expected {
        return Err(StoreError::Conflict {
            aggregate_id: stream.aggregate_id,
            expected,
            actual,
        }
        .into());
    }
    let created_at = |seq: i64| {
        rows.iter()
            .find(|r| r.seq == Some(seq))
            .and_then(|r| r.created_at)
    };
    new_events
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
        .collect()
}

/// The body of `load`, inside the caller's tenant transaction.
pub(crate) async fn load_in_tx(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    stream: &StreamRef,
) -> Result<LoadedStream, Failure> {
    let snapshot: Option<AggregateRow> = aggregates::table
        .filter(aggregates::tenant_id.eq(tenant.as_uuid()))
        .filter(aggregates::id.eq(stream.aggregate_id.as_uuid()))
        .select(AggregateRow::as_select())
        .first(conn)
        .await
        .optional()?;
    let snapshot = snapshot.map(Snapshot::try_from).transpose()?;
    if let Some(s) = &snapshot {
        if s.aggregate_type != stream.aggregate_type {
            return Err(type_mismatch(stream, s.aggregate_type.clone()).into());
        }
    }
    let after = snapshot.as_ref().map(|s| s.version.get()).unwrap_or(0);
    let rows: Vec<EventRow> = events::table
        .filter(events::tenant_id.eq(tenant.as_uuid()))
        .filter(events::aggregate_id.eq(stream.aggregate_id.as_uuid()))
        .filter(events::version.gt(after))
        .order(events::version.asc())
        .select(EventRow::as_select())
        .load(conn)
        .await?;
    let events = rows
        .into_iter()
        .map(RecordedEvent::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LoadedStream { snapshot, events })
}

impl EventStore for PgEventStore {
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, aggregate_id = %stream.aggregate_id, expected = %expected, count = new_events.len()))]
    async fn append(
        &self,
        tenant: TenantId,
        stream: &StreamRef,
        expected: Version,
        new_events: Vec<NewEvent>,
        snapshot: Value,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        check_append(stream, &new_events)?;
        let first = new_events.as_slice().first().map(|e| e.id);
        in_tenant_tx(&self.pool, tenant, |conn| {
            async move { append_in_tx(conn, tenant, stream, expected, &new_events, &snapshot).await }
                .scope_boxed()
        })
        .await
        .map_err(|f: Failure| f.into_store_error(Some(stream), expected, first))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, aggregate_id = %stream.aggregate_id))]
    async fn load(&self, tenant: TenantId, stream: &StreamRef) -> Result<LoadedStream, StoreError> {
        in_tenant_tx(&self.pool, tenant, |conn| {
            async move { load_in_tx(conn, tenant, stream).await }.scope_boxed()
        })
        .await
        .map_err(|f: Failure| f.into_store_error(Some(stream), Version::ZERO, None))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, after = %after, limit))]
    async fn read(
        &self,
        tenant: TenantId,
        after: Seq,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        check_read_limit(limit)?;
        in_tenant_tx(&self.pool, tenant, |conn| {
            async move {
                let rows: Vec<EventRow> = events::table
                    .filter(events::tenant_id.eq(tenant.as_uuid()))
                    .filter(events::seq.gt(after.get()))
                    .order(events::seq.asc())
                    .limit(i64::from(limit))
                    .select(EventRow::as_select())
                    .load(conn)
                    .await?;
                rows.into_iter()
                    .map(RecordedEvent::try_from)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(Failure::from)
            }
            .scope_boxed()
        })
        .await
        .map_err(|f: Failure| f.into_store_error(None, Version::ZERO, None))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    async fn head(&self, tenant: TenantId) -> Result<Seq, StoreError> {
        in_tenant_tx(&self.pool, tenant, |conn| {
            async move {
                let last: Option<i64> = tenant_sequences::table
                    .filter(tenant_sequences::tenant_id.eq(tenant.as_uuid()))
                    .select(tenant_sequences::last_seq)
                    .first(conn)
                    .await
                    .optional()?;
                Seq::new(last.unwrap_or(0)).map_err(|e| Failure::Db(corrupt(e)))
            }
            .scope_boxed()
        })
        .await
        .map_err(|f: Failure| f.into_store_error(None, Version::ZERO, None))
    }
}
