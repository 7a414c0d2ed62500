//! The shape every aggregate has: `decide` holds the rules, `evolve` only folds.
//! Commands, events and rejections each have a small trait, so the command use
//! case ([`crate::usecase`]) and the catalog are written once for all of them.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::catalog::PayloadError;
use crate::ids::{AggregateId, TenantId};
use crate::upcast::Upcaster;

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
    /// The version of the state's serialised shape (the snapshot). Bump it when
    /// the shape changes: older snapshots are then rebuilt from events on load.
    const STATE_VERSION: i32;
    type Command: AggregateCommand;
    type Event: DomainEvent;
    type Rejection: Rejection;

    fn decide(&self, command: &Self::Command) -> Result<Vec<Self::Event>, Self::Rejection>;
    fn evolve(self, event: &Self::Event) -> Self;

    /// Durable timers an accepted `command` asks for: at each `due_at` the
    /// platform runs the timer's command against the same aggregate. A function
    /// of the command alone, so a retried or replayed workflow asks for the same.
    fn timers(_command: &Self::Command) -> Vec<Timer<Self::Command>> {
        Vec::new()
    }
}

/// A command of one aggregate, with its wire name and payload.
pub trait AggregateCommand: Sized + Clone + Send + Sync + 'static {
    /// The aggregate that decides this command.
    type Aggregate: Aggregate<Command = Self>;
    /// Every command type of the aggregate, internal ones included.
    const TYPES: &'static [&'static str];
    /// The subset clients may send (the rest only the platform issues).
    const CLIENT_TYPES: &'static [&'static str];

    /// Parses a command of this aggregate (internal ones included).
    fn parse(command_type: &str, payload: &Value) -> Result<Self, PayloadError>;
    fn command_type(&self) -> &'static str;
    fn to_payload(&self) -> Value;
    /// The aggregate this command is about. Aggregates that exist once per
    /// tenant (the menu) derive it from `tenant`.
    fn aggregate_id(&self, tenant: TenantId) -> AggregateId;
}

/// Why an aggregate refused a command. `Display` is what the client reads.
pub trait Rejection: std::error::Error + Send + Sync + 'static {
    /// A stable machine-readable code (metrics label, problem+json `code`).
    fn code(&self) -> &'static str;
}

/// A command to run against the same aggregate once `due_at` has passed.
#[derive(Debug, Clone, PartialEq)]
pub struct Timer<C> {
    pub due_at: DateTime<Utc>,
    pub command: C,
}

/// A past-tense fact with a stable wire name and schema version.
pub trait DomainEvent: Sized + Clone + Send + Sync + 'static {
    /// Every event type of the aggregate with the schema version writers write.
    const CURRENT_VERSIONS: &'static [(&'static str, i32)];
    /// How stored older versions become the current one (see [`crate::upcast`]).
    const UPCASTERS: &'static [Upcaster] = &[];

    /// The `type` column, e.g. `"OrderCreated"`.
    fn event_type(&self) -> &'static str;
    fn to_payload(&self) -> Value;
    /// Rebuilds the event from its stored parts, at the current schema version
    /// only (older ones are upcast first); fails when the payload does not match
    /// the type (that is how a store refuses malformed events).
    fn decode_current(event_type: &str, payload: &Value) -> Result<Self, EventDecodeError>;

    /// The schema version this event is written with.
    fn schema_version(&self) -> i32 {
        current_version::<Self>(self.event_type()).expect("every event type is listed")
    }

    /// Rebuilds the event from stored parts of any known version.
    fn from_parts(
        event_type: &str,
        schema_version: i32,
        payload: &Value,
    ) -> Result<Self, EventDecodeError> {
        let payload = crate::upcast::upcast::<Self>(event_type, schema_version, payload)?;
        Self::decode_current(event_type, &payload)
    }
}

/// The current schema version of `event_type`, if the aggregate has that type.
pub fn current_version<E: DomainEvent>(event_type: &str) -> Option<i32> {
    E::CURRENT_VERSIONS
        .iter()
        .find(|(t, _)| *t == event_type)
        .map(|(_, v)| *v)
}

/// Why stored parts do not make a valid event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventDecodeError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    /// Written by a newer release (or never defined): this code cannot read it.
    #[error("event type {event_type:?} has no schema version {schema_version} (this release knows up to {current})")]
    UnknownSchemaVersion {
        event_type: String,
        schema_version: i32,
        current: i32,
    },
    /// Writers write only the current version; older ones exist only as history.
    #[error(
        "event type {event_type:?} is written at schema version {current}, not {schema_version}"
    )]
    OutdatedSchemaVersion {
        event_type: String,
        schema_version: i32,
        current: i32,
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

/// Serialises an event or command body; these are plain data and cannot fail.
pub(crate) fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("plain data always serialises")
}
