//! Rows of `events` and `aggregates`, and how they become domain values. Every
//! event read goes through [`recorded`], which upcasts it to the current schema
//! version of its type: load, `/v1/events`, socket frames all read alike.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use kitchen_domain::ports::{upcast_read, StoreError};
use kitchen_domain::{AggregateId, EventId, RecordedEvent, Seq, Snapshot, TenantId, Version};
use serde_json::Value;
use uuid::Uuid;

use super::errors::corrupt;
use crate::postgres::schema::{aggregates, events};

/// `QueryableByName` too: realtime's one-statement read
/// (`stream_events_after()`) names its columns after these fields.
#[derive(Queryable, QueryableByName, Selectable)]
#[diesel(table_name = events)]
pub(crate) struct EventRow {
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
pub(crate) struct AggregateRow {
    id: Uuid,
    aggregate_type: String,
    snapshot: Value,
    version: i64,
    seq: i64,
    schema_version: i32,
}

/// The event of a row, as stored (no upcasting).
fn stored(row: EventRow) -> Result<RecordedEvent, StoreError> {
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

/// The event of a row at the current schema version of its type.
pub(crate) fn recorded(row: EventRow) -> Result<RecordedEvent, StoreError> {
    upcast_read(stored(row)?)
}

/// Every row's event, upcast, in the rows' order.
pub(crate) fn recorded_all(rows: Vec<EventRow>) -> Result<Vec<RecordedEvent>, StoreError> {
    rows.into_iter().map(recorded).collect()
}

impl TryFrom<AggregateRow> for Snapshot {
    type Error = StoreError;
    fn try_from(row: AggregateRow) -> Result<Self, StoreError> {
        Ok(Snapshot {
            aggregate_type: row.aggregate_type,
            aggregate_id: AggregateId::from_uuid(row.id).map_err(corrupt)?,
            version: Version::new(row.version).map_err(corrupt)?,
            seq: Seq::new(row.seq).map_err(corrupt)?,
            schema_version: row.schema_version,
            state: row.snapshot,
        })
    }
}
