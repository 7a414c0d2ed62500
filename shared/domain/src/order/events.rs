//! What has happened to an order: past tense, versioned, stored as JSON.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::values::{Items, NonEmptyText, OrderStatus};
use crate::aggregate::{decode_payload, DomainEvent, EventDecodeError};
use crate::ids::AggregateId;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderCreated {
    pub order_id: AggregateId,
    pub user_id: NonEmptyText,
    pub items: Items,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_for: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderStatusUpdated {
    pub order_id: AggregateId,
    pub from: OrderStatus,
    pub to: OrderStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderCancelled {
    pub order_id: AggregateId,
    pub previous_status: OrderStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<NonEmptyText>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderDue {
    pub order_id: AggregateId,
    pub scheduled_for: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OrderEvent {
    Created(OrderCreated),
    StatusUpdated(OrderStatusUpdated),
    Cancelled(OrderCancelled),
    Due(OrderDue),
}

impl DomainEvent for OrderEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Created(_) => "OrderCreated",
            Self::StatusUpdated(_) => "OrderStatusUpdated",
            Self::Cancelled(_) => "OrderCancelled",
            Self::Due(_) => "OrderDue",
        }
    }

    fn schema_version(&self) -> i32 {
        1
    }

    fn to_payload(&self) -> Value {
        let value = match self {
            Self::Created(e) => serde_json::to_value(e),
            Self::StatusUpdated(e) => serde_json::to_value(e),
            Self::Cancelled(e) => serde_json::to_value(e),
            Self::Due(e) => serde_json::to_value(e),
        };
        value.expect("order events always serialise")
    }

    fn from_parts(
        event_type: &str,
        schema_version: i32,
        payload: &Value,
    ) -> Result<Self, EventDecodeError> {
        let known = [
            "OrderCreated",
            "OrderStatusUpdated",
            "OrderCancelled",
            "OrderDue",
        ];
        if !known.contains(&event_type) {
            return Err(EventDecodeError::UnknownType(
                event_type.chars().take(64).collect(),
            ));
        }
        if schema_version != 1 {
            return Err(EventDecodeError::UnknownSchemaVersion {
                event_type: event_type.to_owned(),
                schema_version,
            });
        }
        Ok(match event_type {
            "OrderCreated" => Self::Created(decode_payload(event_type, payload)?),
            "OrderStatusUpdated" => Self::StatusUpdated(decode_payload(event_type, payload)?),
            "OrderCancelled" => Self::Cancelled(decode_payload(event_type, payload)?),
            _ => Self::Due(decode_payload(event_type, payload)?),
        })
    }
}
