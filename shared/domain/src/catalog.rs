//! The catalog of known command and event types.
//!
//! The gateway, the event store and the worker all parse through here, so a type
//! name or payload shape is declared exactly once.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::aggregate::{Aggregate, DomainEvent, EventDecodeError};
use crate::envelope::NewEvent;
use crate::order::{Order, OrderCommand, OrderEvent};

/// Command types a client may send.
pub const CLIENT_COMMAND_TYPES: &[&str] = &["createOrder", "updateOrderStatus", "cancelOrder"];

/// Aggregate types the store accepts.
pub const AGGREGATE_TYPES: &[&str] = &[Order::TYPE];

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
    #[error("unknown command type {command_type:?}; known types: {}", CLIENT_COMMAND_TYPES.join(", "))]
    UnknownType { command_type: String },
    #[error("invalid payload: {0}")]
    InvalidPayload(#[from] PayloadError),
}

/// Parses a command sent by a client. Internal commands (such as the timer's
/// `markOrderDue`) are refused as unknown: only the platform may issue them.
pub fn parse_client_command(
    command_type: &str,
    payload: &Value,
) -> Result<OrderCommand, CommandParseError> {
    if !CLIENT_COMMAND_TYPES.contains(&command_type) {
        return Err(CommandParseError::UnknownType {
            command_type: command_type.chars().take(64).collect(),
        });
    }
    Ok(OrderCommand::parse(command_type, payload)?)
}

/// Why an event may not be appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventValidationError {
    #[error("unknown aggregate type {0:?}")]
    UnknownAggregateType(String),
    #[error(transparent)]
    Decode(#[from] EventDecodeError),
}

/// Checks that `event` is a well-formed event of `aggregate_type`.
pub fn validate_event(aggregate_type: &str, event: &NewEvent) -> Result<(), EventValidationError> {
    match aggregate_type {
        t if t == Order::TYPE => {
            OrderEvent::from_parts(&event.event_type, event.schema_version, &event.payload)?;
            Ok(())
        }
        other => Err(EventValidationError::UnknownAggregateType(
            other.chars().take(64).collect(),
        )),
    }
}

/// Checks that `aggregate_type` is known.
pub fn validate_aggregate_type(aggregate_type: &str) -> Result<(), EventValidationError> {
    if AGGREGATE_TYPES.contains(&aggregate_type) {
        Ok(())
    } else {
        Err(EventValidationError::UnknownAggregateType(
            aggregate_type.chars().take(64).collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_unknown_command_type_is_refused_with_the_known_ones_listed() {
        let err = parse_client_command("launchRocket", &json!({})).unwrap_err();
        assert!(err.to_string().contains("createOrder"), "{err}");
    }

    #[test]
    fn the_timer_command_is_not_accepted_from_clients() {
        let err = parse_client_command(
            "markOrderDue",
            &json!({"orderId": "7d4f4a52-4b44-4b9e-9a0e-0e5f2b7c1a11"}),
        )
        .unwrap_err();
        assert!(matches!(err, CommandParseError::UnknownType { .. }));
    }

    #[test]
    fn a_missing_field_is_named_by_its_path() {
        let err = parse_client_command(
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
        let err = parse_client_command(
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
