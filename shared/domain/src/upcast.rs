//! Event evolution: stored events keep the schema version they were written
//! with; every read brings them to the current version through a chain of
//! upcasters (v1 -> v2 -> ...), one per step, registered next to the events.
//!
//! An upcaster is a pure function of the old payload: it may rename, reshape or
//! default fields, but never look anything up (the event must stand alone).

use serde_json::Value;

use crate::aggregate::{current_version, DomainEvent, EventDecodeError};

/// Turns the payload of `event_type` at `from_version` into `from_version + 1`.
#[derive(Debug, Clone, Copy)]
pub struct Upcaster {
    pub event_type: &'static str,
    pub from_version: i32,
    /// Fails with a reason when the old payload is not of the old shape.
    pub upcast: fn(Value) -> Result<Value, String>,
}

/// Brings a stored payload of `event_type` at `schema_version` to the current
/// version of the aggregate's events. Payloads already current pass through
/// untouched (no copy is made of anything but the value itself).
pub fn upcast<E: DomainEvent>(
    event_type: &str,
    schema_version: i32,
    payload: &Value,
) -> Result<Value, EventDecodeError> {
    let current = current_version::<E>(event_type)
        .ok_or_else(|| EventDecodeError::UnknownType(event_type.chars().take(64).collect()))?;
    if schema_version == current {
        return Ok(payload.clone());
    }
    let unknown = || EventDecodeError::UnknownSchemaVersion {
        event_type: event_type.to_owned(),
        schema_version,
        current,
    };
    if schema_version > current || schema_version < 1 {
        return Err(unknown());
    }
    let mut version = schema_version;
    let mut value = payload.clone();
    while version < current {
        let step = E::UPCASTERS
            .iter()
            .find(|u| u.event_type == event_type && u.from_version == version)
            .ok_or_else(unknown)?;
        value = (step.upcast)(value).map_err(|reason| EventDecodeError::InvalidPayload {
            event_type: event_type.to_owned(),
            field: String::new(),
            reason: format!("cannot upcast from v{version}: {reason}"),
        })?;
        version += 1;
    }
    Ok(value)
}

/// Renames the object key `from` to `to`, if present.
pub fn rename_key(value: &mut Value, from: &str, to: &str) {
    if let Some(object) = value.as_object_mut() {
        if let Some(v) = object.remove(from) {
            object.insert(to.to_owned(), v);
        }
    }
}
