//! What may be asked of an order. Payload field names are the wire format.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::values::{Items, NonEmptyText, OrderStatus};
use crate::catalog::{from_json_value, PayloadError};
use crate::ids::AggregateId;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateOrder {
    pub order_id: AggregateId,
    pub user_id: NonEmptyText,
    pub items: Items,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_for: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateOrderStatus {
    pub order_id: AggregateId,
    pub status: OrderStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelOrder {
    pub order_id: AggregateId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<NonEmptyText>,
}

/// Issued by the platform's durable timer when a scheduled order falls due.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MarkOrderDue {
    pub order_id: AggregateId,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OrderCommand {
    Create(CreateOrder),
    UpdateStatus(UpdateOrderStatus),
    Cancel(CancelOrder),
    MarkDue(MarkOrderDue),
}

impl OrderCommand {
    /// Parses any order command, internal ones included. Clients go through
    /// [`crate::catalog::parse_client_command`] instead.
    pub fn parse(command_type: &str, payload: &Value) -> Result<Self, PayloadError> {
        Ok(match command_type {
            "createOrder" => Self::Create(from_json_value(payload)?),
            "updateOrderStatus" => Self::UpdateStatus(from_json_value(payload)?),
            "cancelOrder" => Self::Cancel(from_json_value(payload)?),
            "markOrderDue" => Self::MarkDue(from_json_value(payload)?),
            other => {
                return Err(PayloadError {
                    field: String::new(),
                    reason: format!("unknown order command {other:?}"),
                })
            }
        })
    }

    pub fn command_type(&self) -> &'static str {
        match self {
            Self::Create(_) => "createOrder",
            Self::UpdateStatus(_) => "updateOrderStatus",
            Self::Cancel(_) => "cancelOrder",
            Self::MarkDue(_) => "markOrderDue",
        }
    }

    /// The order this command is about.
    pub fn order_id(&self) -> AggregateId {
        match self {
            Self::Create(c) => c.order_id,
            Self::UpdateStatus(c) => c.order_id,
            Self::Cancel(c) => c.order_id,
            Self::MarkDue(c) => c.order_id,
        }
    }

    pub fn to_payload(&self) -> Value {
        let value = match self {
            Self::Create(c) => serde_json::to_value(c),
            Self::UpdateStatus(c) => serde_json::to_value(c),
            Self::Cancel(c) => serde_json::to_value(c),
            Self::MarkDue(c) => serde_json::to_value(c),
        };
        value.expect("order commands always serialise")
    }
}
