//! The state of an order, and how events fold into it (`evolve`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::events::OrderEvent;
use super::values::{NonEmptyText, OrderLine, OrderStatus};
use crate::ids::{AggregateId, Version};

/// An order as the events tell it. `Absent` until `OrderCreated`.
///
/// Shape version 2 (see `STATE_VERSION`): `customerId` and `items[].notes`,
/// following `OrderCreated` v2.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum Order {
    #[default]
    Absent,
    Placed(PlacedOrder),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacedOrder {
    pub order_id: AggregateId,
    pub customer_id: NonEmptyText,
    pub items: Vec<OrderLine>,
    pub status: OrderStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_for: Option<DateTime<Utc>>,
    pub due: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<NonEmptyText>,
    /// Number of events folded in; equals the stream version.
    pub version: Version,
}

impl Order {
    pub fn placed(&self) -> Option<&PlacedOrder> {
        match self {
            Order::Absent => None,
            Order::Placed(order) => Some(order),
        }
    }

    pub fn version(&self) -> Version {
        self.placed().map(|o| o.version).unwrap_or(Version::ZERO)
    }

    /// Applies a fact. Events that cannot follow this state are ignored rather
    /// than panicking: `decide` never produces them, and a projection must not
    /// crash on history.
    pub(super) fn apply(self, event: &OrderEvent) -> Order {
        match (self, event) {
            (Order::Absent, OrderEvent::Created(e)) => Order::Placed(PlacedOrder {
                order_id: e.order_id,
                customer_id: e.customer_id.clone(),
                items: e.items.clone(),
                status: OrderStatus::Placed,
                scheduled_for: e.scheduled_for,
                due: false,
                cancel_reason: None,
                version: Version::ZERO.advanced(1),
            }),
            (Order::Placed(mut order), event) => {
                match event {
                    OrderEvent::Created(_) => {}
                    OrderEvent::StatusUpdated(e) => order.status = e.to,
                    OrderEvent::Cancelled(e) => {
                        order.status = OrderStatus::Cancelled;
                        order.cancel_reason = e.reason.clone();
                    }
                    OrderEvent::Due(_) => order.due = true,
                }
                order.version = order.version.advanced(1);
                Order::Placed(order)
            }
            (absent, _) => absent,
        }
    }
}
