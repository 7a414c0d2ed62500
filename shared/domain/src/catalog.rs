//! The catalog: every aggregate the platform knows, and the one place that
//! maps names to them: command types to aggregates (and their aggregate ids),
//! aggregate types to state versions, event validation and upcasting. The
//! gateway, the event stores and the worker all go through here, so adding an
//! aggregate means adding it to [`AnyCommand`] and [`by_aggregate_type!`] only.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::aggregate::{Aggregate, AggregateCommand, DomainEvent, EventDecodeError};
use crate::envelope::{LoadedStream, NewEvent, RecordedEvent, StreamRef};
use crate::ids::TenantId;
use crate::menu::{Menu, MenuCommand};
use crate::order::{Order, OrderCommand};
use crate::roles::Role;
use crate::upcast::upcast;
use crate::usecase::{self, Decision, EventContext, RebuildError, TimerRequest};

/// Runs `$body` with `$A` bound to the aggregate whose `TYPE` is `$type`, or
/// `$other` when no aggregate has that type.
macro_rules! by_aggregate_type {
    ($type:expr, $A:ident => $body:expr, _ => $other:expr) => {
        match $type {
            t if t == Order::TYPE => {
                type $A = Order;
                $body
            }
            t if t == Menu::TYPE => {
                type $A = Menu;
                $body
            }
            _ => $other,
        }
    };
}

/// Every aggregate type the stores accept.
pub const AGGREGATE_TYPES: &[&str] = &[Order::TYPE, Menu::TYPE];

/// A parsed command of any aggregate.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyCommand {
    Order(OrderCommand),
    Menu(MenuCommand),
}

/// Runs `$body` with `$c` bound to the aggregate's own command.
macro_rules! with_command {
    ($command:expr, $c:ident => $body:expr) => {
        match $command {
            AnyCommand::Order($c) => $body,
            AnyCommand::Menu($c) => $body,
        }
    };
}

/// Command types clients may send, in catalog order.
pub fn client_command_types() -> Vec<&'static str> {
    [OrderCommand::CLIENT_TYPES, MenuCommand::CLIENT_TYPES].concat()
}

fn unknown_type(command_type: &str) -> CommandParseError {
    CommandParseError::UnknownType {
        command_type: command_type.chars().take(64).collect(),
    }
}

impl AnyCommand {
    /// Parses any command, internal ones (such as the timer's `markOrderDue`)
    /// included: for commands already stored. Clients go through
    /// [`AnyCommand::parse_client`].
    pub fn parse(command_type: &str, payload: &Value) -> Result<Self, CommandParseError> {
        if OrderCommand::TYPES.contains(&command_type) {
            Ok(Self::Order(OrderCommand::parse(command_type, payload)?))
        } else if MenuCommand::TYPES.contains(&command_type) {
            Ok(Self::Menu(MenuCommand::parse(command_type, payload)?))
        } else {
            Err(unknown_type(command_type))
        }
    }

    /// Parses a command sent by a client; internal commands are refused as
    /// unknown (only the platform issues them).
    pub fn parse_client(command_type: &str, payload: &Value) -> Result<Self, CommandParseError> {
        if !client_command_types().contains(&command_type) {
            return Err(unknown_type(command_type));
        }
        Self::parse(command_type, payload)
    }

    pub fn command_type(&self) -> &'static str {
        with_command!(self, c => c.command_type())
    }

    /// The least role that may send this command: orders (place, advance,
    /// cancel) are every member's; the menu is the admin's.
    pub fn required_role(&self) -> Role {
        match self {
            Self::Order(_) => Role::Member,
            Self::Menu(_) => Role::Admin,
        }
    }

    /// The payload as the domain writes it (so equal requests compare equal).
    pub fn to_payload(&self) -> Value {
        with_command!(self, c => c.to_payload())
    }

    /// The stream the command is about, in `tenant`.
    pub fn stream(&self, tenant: TenantId) -> StreamRef {
        with_command!(self, c => stream_of(c, tenant))
    }

    /// The durable timers the command asks for once accepted.
    pub fn timers(&self) -> Vec<TimerRequest> {
        with_command!(self, c => usecase::timers(c))
    }

    /// The command timer `index` runs, if there is such a timer.
    pub fn timer_command(&self, index: usize) -> Option<AnyCommand> {
        match self {
            Self::Order(c) => usecase::timer_command(c, index).map(Self::Order),
            Self::Menu(c) => usecase::timer_command(c, index).map(Self::Menu),
        }
    }

    /// The command use case (see [`usecase::decide`]).
    pub fn decide(
        &self,
        loaded: &LoadedStream,
        ctx: &EventContext,
    ) -> Result<Decision, RebuildError> {
        with_command!(self, c => usecase::decide(loaded, c, ctx))
    }
}

fn stream_of<C: AggregateCommand>(command: &C, tenant: TenantId) -> StreamRef {
    StreamRef::new(
        <C::Aggregate as Aggregate>::TYPE,
        command.aggregate_id(tenant),
    )
}

/// A payload that does not have the expected shape, with the path of the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}`: {reason}")]
pub struct PayloadError {
    /// Dotted path inside the payload, e.g. `items[0].quantity`; empty for the root.
    pub field: String,
    pub reason: String,
}

/// Deserialises a JSON value, reporting which field was wrong.
pub fn from_json_value<T: DeserializeOwned>(value: &Value) -> Result<T, PayloadError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let reason = err.inner().to_string();
        let mut field = if path == "." { String::new() } else { path };
        // serde reports a missing field at its parent; name the field itself.
        if let Some(missing) = reason
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            if !field.is_empty() {
                field.push('.');
            }
            field.push_str(missing);
        }
        PayloadError { field, reason }
    })
}

/// Why a client's command could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandParseError {
    #[error("unknown command type {command_type:?}; known types: {}", client_command_types().join(", "))]
    UnknownType { command_type: String },
    #[error("invalid payload: {0}")]
    InvalidPayload(#[from] PayloadError),
}

/// Why an event may not be appended or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventValidationError {
    #[error("unknown aggregate type {0:?}")]
    UnknownAggregateType(String),
    #[error(transparent)]
    Decode(#[from] EventDecodeError),
}

fn unknown_aggregate(aggregate_type: &str) -> EventValidationError {
    EventValidationError::UnknownAggregateType(aggregate_type.chars().take(64).collect())
}

/// Checks that `event` is a well-formed event of `aggregate_type` at the
/// current schema version of its type: writers write only the newest version.
pub fn validate_event(aggregate_type: &str, event: &NewEvent) -> Result<(), EventValidationError> {
    by_aggregate_type!(aggregate_type, A => {
        check_current::<<A as Aggregate>::Event>(&event.event_type, event.schema_version)?;
        <A as Aggregate>::Event::decode_current(&event.event_type, &event.payload)?;
        Ok(())
    }, _ => Err(unknown_aggregate(aggregate_type)))
}

fn check_current<E: DomainEvent>(
    event_type: &str,
    schema_version: i32,
) -> Result<(), EventDecodeError> {
    let current = crate::aggregate::current_version::<E>(event_type)
        .ok_or_else(|| EventDecodeError::UnknownType(event_type.chars().take(64).collect()))?;
    match schema_version {
        v if v == current => Ok(()),
        v if v < current && v >= 1 => Err(EventDecodeError::OutdatedSchemaVersion {
            event_type: event_type.to_owned(),
            schema_version,
            current,
        }),
        _ => Err(EventDecodeError::UnknownSchemaVersion {
            event_type: event_type.to_owned(),
            schema_version,
            current,
        }),
    }
}

/// Checks that `aggregate_type` is known.
pub fn validate_aggregate_type(aggregate_type: &str) -> Result<(), EventValidationError> {
    by_aggregate_type!(aggregate_type, _A => Ok(()), _ => Err(unknown_aggregate(aggregate_type)))
}

/// The current state (snapshot) version of `aggregate_type`.
pub fn state_version(aggregate_type: &str) -> Option<i32> {
    by_aggregate_type!(aggregate_type, A => Some(<A as Aggregate>::STATE_VERSION), _ => None)
}

/// Brings a stored event to the current schema version of its type (see
/// [`crate::upcast`]); an event already current is returned as it is.
pub fn upcast_event(mut event: RecordedEvent) -> Result<RecordedEvent, EventValidationError> {
    by_aggregate_type!(event.aggregate_type.as_str(), A => {
        type E = <A as Aggregate>::Event;
        let current = crate::aggregate::current_version::<E>(&event.event_type);
        if current != Some(event.schema_version) {
            event.payload = upcast::<E>(&event.event_type, event.schema_version, &event.payload)?;
            event.schema_version = current.expect("upcast succeeds only for known types");
        }
        Ok(event)
    }, _ => Err(unknown_aggregate(&event.aggregate_type)))
}

/// The state of an aggregate rebuilt from all of its events (for a snapshot of
/// an older shape, on read paths that may not rewrite it).
pub fn rebuild_state(aggregate_type: &str, loaded: &LoadedStream) -> Result<Value, RebuildError> {
    by_aggregate_type!(aggregate_type, A => {
        let state: A = usecase::rebuild(loaded)?;
        Ok(serde_json::to_value(state).expect("aggregate state always serialises"))
    }, _ => Err(RebuildError::UnknownAggregateType(aggregate_type.chars().take(64).collect())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_unknown_command_type_is_refused_with_the_known_ones_listed() {
        let err = AnyCommand::parse_client("launchRocket", &json!({})).unwrap_err();
        assert!(err.to_string().contains("createOrder"), "{err}");
    }

    #[test]
    fn the_timer_command_is_not_accepted_from_clients() {
        let err = AnyCommand::parse_client(
            "markOrderDue",
            &json!({"orderId": "7d4f4a52-4b44-4b9e-9a0e-0e5f2b7c1a11"}),
        )
        .unwrap_err();
        assert!(matches!(err, CommandParseError::UnknownType { .. }));
    }

    #[test]
    fn a_missing_field_is_named_by_its_path() {
        let err = AnyCommand::parse_client(
            "createOrder",
            &json!({"orderId": "7d4f4a52-4b44-4b9e-9a0e-0e5f2b7c1a11", "userId": "u",
                    "items": [{"quantity": 1}]}),
        )
        .unwrap_err();
        let CommandParseError::InvalidPayload(p) = err else {
            panic!()
        };
        assert_eq!(p.field, "items[0].menuItemId");
    }

    #[test]
    fn a_wrong_type_is_named_by_its_path() {
        let err = AnyCommand::parse_client(
            "createOrder",
            &json!({"orderId": "7d4f4a52-4b44-4b9e-9a0e-0e5f2b7c1a11", "userId": "u",
                    "items": [{"menuItemId": "m", "quantity": 0}]}),
        )
        .unwrap_err();
        let CommandParseError::InvalidPayload(p) = err else {
            panic!()
        };
        assert_eq!(p.field, "items[0].quantity");
    }
}

#[cfg(test)]
mod catalog_tests {
    use serde_json::json;

    use super::*;
    use crate::ids::{AggregateId, CorrelationId, EventId, Seq, Version};

    fn stored(
        aggregate_type: &str,
        event_type: &str,
        version: i32,
        payload: Value,
    ) -> RecordedEvent {
        RecordedEvent {
            tenant_id: TenantId::new_random(),
            id: EventId::new_random(),
            aggregate_type: aggregate_type.into(),
            aggregate_id: AggregateId::new_random(),
            version: Version::ZERO.advanced(1),
            seq: Seq::ZERO.advanced(1),
            event_type: event_type.into(),
            schema_version: version,
            payload,
            causation_id: uuid::Uuid::new_v4(),
            correlation_id: CorrelationId::new_random(),
            metadata: json!({}),
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn every_client_command_type_parses_to_its_aggregate() {
        let types = client_command_types();
        for t in [
            "createOrder",
            "cancelOrder",
            "addMenuItem",
            "changeMenuItem",
            "removeMenuItem",
        ] {
            assert!(types.contains(&t), "{t}");
        }
        assert!(!types.contains(&"markOrderDue"));
        let menu =
            AnyCommand::parse_client("removeMenuItem", &json!({"menuItemId": "soup"})).unwrap();
        assert!(matches!(menu, AnyCommand::Menu(_)));
    }

    #[test]
    fn stored_v1_events_are_upcast_and_current_ones_pass_through() {
        let v1 = stored(
            "order",
            "OrderCreated",
            1,
            json!({"orderId": AggregateId::new_random(), "userId": "u",
                   "items": [{"menuItemId": "m", "quantity": 1, "specialInstructions": "hot"}]}),
        );
        let up = upcast_event(v1.clone()).unwrap();
        assert_eq!(up.schema_version, 2);
        assert_eq!(up.payload["customerId"], "u");
        assert_eq!(up.payload["items"][0]["notes"], json!(["hot"]));
        assert_eq!((up.id, up.seq), (v1.id, v1.seq));
        let current = stored("order", "OrderCreated", 2, up.payload.clone());
        assert_eq!(upcast_event(current.clone()).unwrap(), current);
    }

    #[test]
    fn an_unknown_future_version_or_aggregate_is_an_error_not_a_panic() {
        let future = stored("order", "OrderCreated", 7, json!({}));
        let err = upcast_event(future).unwrap_err();
        assert!(err.to_string().contains("OrderCreated"), "{err}");
        assert!(upcast_event(stored("ship", "Sailed", 1, json!({}))).is_err());
    }

    #[test]
    fn writers_may_only_write_the_current_version() {
        let payload = json!({"orderId": AggregateId::new_random(), "userId": "u",
                             "items": [{"menuItemId": "m", "quantity": 1}]});
        let event = NewEvent {
            id: EventId::new_random(),
            event_type: "OrderCreated".into(),
            schema_version: 1,
            payload,
            causation_id: uuid::Uuid::new_v4(),
            correlation_id: CorrelationId::new_random(),
            metadata: json!({}),
        };
        let err = validate_event("order", &event).unwrap_err();
        assert!(
            matches!(
                err,
                EventValidationError::Decode(EventDecodeError::OutdatedSchemaVersion { .. })
            ),
            "{err}"
        );
    }
}
