//! `GET /v1/events` and `GET /v1/snapshot`.

use chrono::{DateTime, Utc};
use kitchen_domain::{RecordedEvent, Snapshot};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// One event of the tenant's log, at the current schema version of its type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventView {
    pub tenant_id: Uuid,
    pub id: Uuid,
    /// `order` or `menu`.
    pub aggregate_type: String,
    pub aggregate_id: Uuid,
    /// The event's place in its aggregate's stream (1, 2, ...).
    pub version: i64,
    /// The event's place in the tenant's log: gapless, in commit order.
    pub seq: i64,
    /// The event type, e.g. `OrderCreated`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub schema_version: i32,
    #[schema(value_type = Object)]
    pub payload: Value,
    /// The command that caused the event.
    pub causation_id: Uuid,
    pub correlation_id: Uuid,
    #[schema(value_type = Object)]
    pub metadata: Value,
    pub created_at: DateTime<Utc>,
}

impl From<&RecordedEvent> for EventView {
    fn from(e: &RecordedEvent) -> Self {
        EventView {
            tenant_id: e.tenant_id.as_uuid(),
            id: e.id.as_uuid(),
            aggregate_type: e.aggregate_type.clone(),
            aggregate_id: e.aggregate_id.as_uuid(),
            version: e.version.get(),
            seq: e.seq.get(),
            event_type: e.event_type.clone(),
            schema_version: e.schema_version,
            payload: e.payload.clone(),
            causation_id: e.causation_id,
            correlation_id: e.correlation_id.as_uuid(),
            metadata: e.metadata.clone(),
            created_at: e.created_at,
        }
    }
}

/// A page of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventsPage {
    pub events: Vec<EventView>,
    /// The seq to pass as `after` for the next page.
    pub next_after: i64,
}

/// One aggregate's current state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SnapshotView {
    pub aggregate_type: String,
    pub aggregate_id: Uuid,
    pub version: i64,
    pub seq: i64,
    /// The shape version of `state`.
    pub schema_version: i32,
    #[schema(value_type = Object)]
    pub state: Value,
}

impl From<&Snapshot> for SnapshotView {
    fn from(s: &Snapshot) -> Self {
        SnapshotView {
            aggregate_type: s.aggregate_type.clone(),
            aggregate_id: s.aggregate_id.as_uuid(),
            version: s.version.get(),
            seq: s.seq.get(),
            schema_version: s.schema_version,
            state: s.state.clone(),
        }
    }
}

/// Every aggregate of the tenant, consistent at `seq`: apply the events after
/// `seq` (from `/v1/events` or the stream) to be current.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantSnapshotView {
    pub seq: i64,
    /// This incarnation of the tenant's log: it changes when the log is
    /// recreated (the tenant erased and provisioned again). Pass it to
    /// `GET /v1/stream?after=<seq>&epoch=<epoch>`.
    pub epoch: Uuid,
    pub aggregates: Vec<SnapshotView>,
}
