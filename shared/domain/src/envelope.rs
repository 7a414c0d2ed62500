//! Envelopes: what travels around a command or an event besides its payload.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::ids::{AggregateId, CommandId, CorrelationId, EventId, Seq, TenantId, Version};

/// A command as accepted from a client, before any aggregate has seen it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandEnvelope<C> {
    pub id: CommandId,
    pub tenant_id: TenantId,
    /// The wire name, e.g. `"createOrder"`.
    pub command_type: String,
    pub command: C,
    pub aggregate_id: AggregateId,
    /// The `sub` of the token that sent it, when there was one.
    pub user_id: Option<String>,
    pub correlation_id: CorrelationId,
    pub metadata: Value,
}

/// Identifies one aggregate's stream of events.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamRef {
    pub aggregate_type: String,
    pub aggregate_id: AggregateId,
}

impl StreamRef {
    pub fn new(aggregate_type: impl Into<String>, aggregate_id: AggregateId) -> Self {
        Self {
            aggregate_type: aggregate_type.into(),
            aggregate_id,
        }
    }
}

/// An event about to be appended; the store assigns `version` and `seq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewEvent {
    pub id: EventId,
    pub event_type: String,
    pub schema_version: i32,
    pub payload: Value,
    /// The command (or event) that caused this one.
    pub causation_id: Uuid,
    pub correlation_id: CorrelationId,
    pub metadata: Value,
}

/// An event as stored: immutable, with its place in the stream and in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedEvent {
    pub tenant_id: TenantId,
    pub id: EventId,
    pub aggregate_type: String,
    pub aggregate_id: AggregateId,
    pub version: Version,
    pub seq: Seq,
    #[serde(rename = "type")]
    pub event_type: String,
    pub schema_version: i32,
    pub payload: Value,
    pub causation_id: Uuid,
    pub correlation_id: CorrelationId,
    pub metadata: Value,
    pub created_at: DateTime<Utc>,
}

/// The latest state of one aggregate, consistent with its events up to `version`
/// and with the tenant's log up to `seq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub aggregate_type: String,
    pub aggregate_id: AggregateId,
    pub version: Version,
    pub seq: Seq,
    /// The shape of `state` (the aggregate's `STATE_VERSION` when written).
    pub schema_version: i32,
    pub state: Value,
}

/// What `EventStore::load` returns: the snapshot, if any, and the events after it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LoadedStream {
    pub snapshot: Option<Snapshot>,
    pub events: Vec<RecordedEvent>,
}

impl LoadedStream {
    /// The stream's current version: the last event's, else the snapshot's, else 0.
    pub fn version(&self) -> Version {
        self.events
            .last()
            .map(|e| e.version)
            .or(self.snapshot.as_ref().map(|s| s.version))
            .unwrap_or(Version::ZERO)
    }
}
