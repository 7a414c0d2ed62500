//! What has happened to an order: past tense, versioned, stored as JSON.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::values::{NonEmptyText, OrderLine, OrderStatus};
use crate::aggregate::{decode_payload, to_json, DomainEvent, EventDecodeError};
use crate::ids::AggregateId;
use crate::upcast::{rename_key, Upcaster};

/// Schema version 2: `userId` became `customerId`, and each item's optional
/// `specialInstructions` string became a `notes` list. Version 1 events stay
/// stored as written and are upcast on read (see [`ORDER_UPCASTERS`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderCreated {
    pub order_id: AggregateId,
    pub customer_id: NonEmptyText,
    pub items: Vec<OrderLine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_for: Option<DateTime<Utc>>,
}

/// `OrderCreated` v1 -> v2 (see [`OrderCreated`]).
fn order_created_v1_to_v2(mut payload: Value) -> Result<Value, String> {
    if !payload.is_object() {
        return Err("payload is not an object".into());
    }
    rename_key(&mut payload, "userId", "customerId");
    let items = payload
        .get_mut("items")
        .and_then(Value::as_array_mut)
        .ok_or("`items` is not a list")?;
    for item in items {
        let line = item.as_object_mut().ok_or("an item is not an object")?;
        let notes: Vec<Value> = match line.remove("specialInstructions") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(text)) if text.trim().is_empty() => Vec::new(),
            Some(text @ Value::String(_)) => vec![text],
            Some(other) => return Err(format!("`specialInstructions` is not text: {other}")),
        };
        if !notes.is_empty() {
            line.insert("notes".into(), Value::Array(notes));
        }
    }
    Ok(payload)
}

/// Every upcaster of order events, oldest first.
pub const ORDER_UPCASTERS: &[Upcaster] = &[Upcaster {
    event_type: "OrderCreated",
    from_version: 1,
    upcast: order_created_v1_to_v2,
}];

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
    const CURRENT_VERSIONS: &'static [(&'static str, i32)] = &[
        ("OrderCreated", 2),
        ("OrderStatusUpdated", 1),
        ("OrderCancelled", 1),
        ("OrderDue", 1),
    ];
    const UPCASTERS: &'static [Upcaster] = ORDER_UPCASTERS;

    fn event_type(&self) -> &'static str {
        match self {
            Self::Created(_) => "OrderCreated",
            Self::StatusUpdated(_) => "OrderStatusUpdated",
            Self::Cancelled(_) => "OrderCancelled",
            Self::Due(_) => "OrderDue",
        }
    }

    fn to_payload(&self) -> Value {
        match self {
            Self::Created(e) => to_json(e),
            Self::StatusUpdated(e) => to_json(e),
            Self::Cancelled(e) => to_json(e),
            Self::Due(e) => to_json(e),
        }
    }

    fn decode_current(event_type: &str, payload: &Value) -> Result<Self, EventDecodeError> {
        Ok(match event_type {
            "OrderCreated" => Self::Created(decode_payload(event_type, payload)?),
            "OrderStatusUpdated" => Self::StatusUpdated(decode_payload(event_type, payload)?),
            "OrderCancelled" => Self::Cancelled(decode_payload(event_type, payload)?),
            "OrderDue" => Self::Due(decode_payload(event_type, payload)?),
            other => {
                return Err(EventDecodeError::UnknownType(
                    other.chars().take(64).collect(),
                ))
            }
        })
    }
}
