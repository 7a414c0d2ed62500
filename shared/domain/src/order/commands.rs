//! What may be asked of an order. Payload field names are the wire format.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::state::Order;
use super::values::{Items, NonEmptyText, OrderStatus};
use crate::aggregate::{to_json, AggregateCommand};
use crate::catalog::{from_json_value, PayloadError};
use crate::ids::{AggregateId, TenantId};

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

impl AggregateCommand for OrderCommand {
    type Aggregate = Order;
    const TYPES: &'static [&'static str] = &[
        "createOrder",
        "updateOrderStatus",
        "cancelOrder",
        "markOrderDue",
    ];
    const CLIENT_TYPES: &'static [&'static str] =
        &["createOrder", "updateOrderStatus", "cancelOrder"];

    fn parse(command_type: &str, payload: &Value) -> Result<Self, PayloadError> {
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

    fn command_type(&self) -> &'static str {
        match self {
            Self::Create(_) => "createOrder",
            Self::UpdateStatus(_) => "updateOrderStatus",
            Self::Cancel(_) => "cancelOrder",
            Self::MarkDue(_) => "markOrderDue",
        }
    }

    fn to_payload(&self) -> Value {
        match self {
            Self::Create(c) => to_json(c),
            Self::UpdateStatus(c) => to_json(c),
            Self::Cancel(c) => to_json(c),
            Self::MarkDue(c) => to_json(c),
        }
    }

    fn aggregate_id(&self, _tenant: TenantId) -> AggregateId {
        self.order_id()
    }
}

impl OrderCommand {
    /// The order this command is about.
    pub fn order_id(&self) -> AggregateId {
        match self {
            Self::Create(c) => c.order_id,
            Self::UpdateStatus(c) => c.order_id,
            Self::Cancel(c) => c.order_id,
            Self::MarkDue(c) => c.order_id,
        }
    }
}
