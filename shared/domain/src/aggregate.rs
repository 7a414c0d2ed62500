//! The shape every aggregate has: `decide` holds the rules, `evolve` only folds.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// An event-sourced aggregate.
///
/// `decide` must be pure and total: every invalid command is a `Rejection` value,
/// never a panic. `evolve` must accept any event that `decide` can produce from the
/// current state; it applies facts and never re-checks rules.
pub trait Aggregate:
    Default + Clone + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The `aggregate_type` stored with every event, e.g. `"order"`.
    const TYPE: &'static str;
    type Command;
    type Event: DomainEvent;
    type Rejection: std::error::Error + Send + Sync + 'static;

    fn decide(&self, command: &Self::Command) -> Result<Vec<Self::Event>, Self::Rejection>;
    fn evolve(self, event: &Self::Event) -> Self;
}

/// A past-tense fact with a stable wire name and schema version.
pub trait DomainEvent: Sized + Clone + Send + Sync + 'static {
    /// The `type` column, e.g. `"OrderCreated"`.
    fn event_type(&self) -> &'static str;
    /// Bumped when the payload shape changes, so old events can be upcast.
    fn schema_version(&self) -> i32;
    fn to_payload(&self) -> Value;
    /// Rebuilds the event from its stored parts; fails when the payload does not
    /// match the type (that is how a store refuses malformed events).
    fn from_parts(
        event_type: &str,
        schema_version: i32,
        payload: &Value,
    ) -> Result<Self, EventDecodeError>;
}

/// Why stored parts do not make a valid event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventDecodeError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("event type {event_type:?} has no schema version {schema_version}")]
    UnknownSchemaVersion {
        event_type: String,
        schema_version: i32,
    },
    #[error("invalid payload for {event_type:?} at `{field}`: {reason}")]
    InvalidPayload {
        event_type: String,
        field: String,
        reason: String,
    },
}

/// Deserialises `payload` into `T`, naming the offending field on failure.
pub(crate) fn decode_payload<T: DeserializeOwned>(
    event_type: &str,
    payload: &Value,
) -> Result<T, EventDecodeError> {
    crate::catalog::from_json_value(payload).map_err(|e| EventDecodeError::InvalidPayload {
        event_type: event_type.to_owned(),
        field: e.field,
        reason: e.reason,
    })
}
