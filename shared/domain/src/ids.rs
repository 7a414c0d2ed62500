//! Typed identifiers and counters, parsed once at the edge.
//!
//! A tenant is never a loose string: every API that touches tenant data takes a
//! [`TenantId`]. Versions and sequence numbers cannot be negative by construction.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a raw value could not become an identifier or counter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} must be a UUID, got {value:?}")]
    NotAUuid { kind: &'static str, value: String },
    #[error("{kind} must not be the nil UUID")]
    Nil { kind: &'static str },
    #[error("{kind} must be zero or positive, got {value}")]
    Negative { kind: &'static str, value: i64 },
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "Uuid", into = "Uuid")]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random identifier.
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }
            /// Wraps a UUID; the nil UUID is refused because it is never a real id.
            pub fn from_uuid(id: Uuid) -> Result<Self, IdError> {
                if id.is_nil() {
                    Err(IdError::Nil { kind: $kind })
                } else {
                    Ok(Self(id))
                }
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl TryFrom<Uuid> for $name {
            type Error = IdError;
            fn try_from(id: Uuid) -> Result<Self, IdError> {
                Self::from_uuid(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                let id = Uuid::parse_str(s).map_err(|_| IdError::NotAUuid {
                    kind: $kind,
                    value: s.chars().take(64).collect(),
                })?;
                Self::from_uuid(id)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// A household: the unit of isolation. Comes only from a verified token.
    TenantId,
    "tenant id"
);
uuid_id!(
    /// A command's id, which is also the client's idempotency key.
    CommandId,
    "command id"
);
uuid_id!(
    /// The id of one aggregate instance (for orders: the order id).
    AggregateId,
    "aggregate id"
);
uuid_id!(
    /// The id of one event.
    EventId,
    "event id"
);
uuid_id!(
    /// Ties together every command and event caused by one user action.
    CorrelationId,
    "correlation id"
);

/// Namespace for event ids derived from command ids (UUID v5), so that a retried
/// command produces byte-identical events and a second append is detectable.
const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6b69_7463_6865_6e65_6174_735f_6576_7473);

impl EventId {
    /// The id of the `index`-th event caused by `command`: deterministic, so a
    /// retry after a crash cannot append the same event twice under another id.
    pub fn derived(command: CommandId, index: usize) -> Self {
        let mut name = [0u8; 24];
        name[..16].copy_from_slice(command.as_uuid().as_bytes());
        name[16..].copy_from_slice(&(index as u64).to_be_bytes());
        Self(Uuid::new_v5(&EVENT_ID_NAMESPACE, &name))
    }
}

/// Namespace of aggregate ids derived from a tenant (UUID v5).
const TENANT_AGGREGATE_NAMESPACE: Uuid = Uuid::from_u128(0x6b69_7463_6865_6e65_6174_735f_6167_6773);

impl AggregateId {
    /// The id of the one aggregate of type `aggregate_type` a tenant has (its
    /// menu): stable, so every command finds the same stream.
    pub fn of_tenant(tenant: TenantId, aggregate_type: &str) -> Self {
        let mut name = tenant.as_uuid().as_bytes().to_vec();
        name.extend_from_slice(aggregate_type.as_bytes());
        Self(Uuid::new_v5(&TENANT_AGGREGATE_NAMESPACE, &name))
    }
}

macro_rules! counter {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
        #[serde(try_from = "i64", into = "i64")]
        pub struct $name(i64);

        impl $name {
            pub const ZERO: Self = Self(0);
            pub fn new(value: i64) -> Result<Self, IdError> {
                if value < 0 {
                    Err(IdError::Negative { kind: $kind, value })
                } else {
                    Ok(Self(value))
                }
            }
            pub fn get(self) -> i64 {
                self.0
            }
            /// The value `n` steps later.
            pub fn advanced(self, n: usize) -> Self {
                Self(self.0 + n as i64)
            }
        }

        impl TryFrom<i64> for $name {
            type Error = IdError;
            fn try_from(value: i64) -> Result<Self, IdError> {
                Self::new(value)
            }
        }

        impl From<$name> for i64 {
            fn from(value: $name) -> i64 {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

counter!(
    /// How many events an aggregate has: 0 before its first event, then 1, 2, ...
    Version,
    "version"
);
counter!(
    /// Position in a tenant's event log: gapless, starts at 1, grows in commit order.
    Seq,
    "seq"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_id_parses_from_a_uuid_string_and_refuses_garbage() {
        let id: TenantId = "7d4f4a52-4b44-4b9e-9a0e-0e5f2b7c1a11".parse().unwrap();
        assert_eq!(id.to_string(), "7d4f4a52-4b44-4b9e-9a0e-0e5f2b7c1a11");
        assert!(matches!(
            "not-a-uuid".parse::<TenantId>(),
            Err(IdError::NotAUuid { .. })
        ));
        assert_eq!(
            Uuid::nil().to_string().parse::<TenantId>(),
            Err(IdError::Nil { kind: "tenant id" })
        );
    }

    #[test]
    fn versions_and_seqs_cannot_be_negative() {
        assert!(Version::new(-1).is_err());
        assert!(Seq::new(-5).is_err());
        assert_eq!(Version::new(3).unwrap().advanced(2).get(), 5);
        assert!(serde_json::from_str::<Version>("-1").is_err());
    }

    #[test]
    fn derived_event_ids_are_stable_and_distinct_per_index() {
        let command = CommandId::new_random();
        assert_eq!(EventId::derived(command, 0), EventId::derived(command, 0));
        assert_ne!(EventId::derived(command, 0), EventId::derived(command, 1));
        assert_ne!(
            EventId::derived(command, 0),
            EventId::derived(CommandId::new_random(), 0)
        );
    }
}
