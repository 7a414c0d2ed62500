//! `orderBoard`: every open order (placed to ready) with its status, items and
//! due time; counts by status are computed when the view is read.

use serde_json::{json, Value};

use super::change::{Doc, ViewOp, ViewRow};
use super::registry::{KeyedOps, Projection};
use super::{instant, kitchen_queue};
use crate::aggregate::{DomainEvent, EventDecodeError};
use crate::envelope::RecordedEvent;
use crate::order::{OrderEvent, OrderStatus};

pub(super) const ORDER_BOARD: Projection = Projection {
    name: "orderBoard",
    version: 1,
    event_types: ORDER_EVENTS,
    apply,
    read,
};

/// Every order event (both order views read them all).
pub(super) const ORDER_EVENTS: &[(&str, &str)] = &[
    ("order", "OrderCreated"),
    ("order", "OrderStatusUpdated"),
    ("order", "OrderCancelled"),
    ("order", "OrderDue"),
];

/// Statuses shown on the board, in the order counts are listed.
const OPEN: [OrderStatus; 4] = [
    OrderStatus::Placed,
    OrderStatus::Confirmed,
    OrderStatus::Preparing,
    OrderStatus::Ready,
];

/// One field as a patch.
pub(super) fn patch(field: &str, value: Value) -> ViewOp {
    let mut doc = Doc::new();
    doc.insert(field.into(), value);
    ViewOp::Merge(doc)
}

/// The document of a new order: due when scheduled, else when placed.
pub(super) fn new_order(event: &RecordedEvent, order: &crate::order::OrderCreated) -> Doc {
    let due_at = order.scheduled_for.unwrap_or(event.created_at);
    let value = json!({
        "orderId": order.order_id,
        "customerId": order.customer_id,
        "items": order.items,
        "status": OrderStatus::Placed,
        "dueAt": instant(due_at),
        "due": false,
    });
    match value {
        Value::Object(doc) => doc,
        _ => unreachable!("json! of an object is an object"),
    }
}

fn apply(event: &RecordedEvent) -> Result<KeyedOps, EventDecodeError> {
    let key = event.aggregate_id.to_string();
    let op = match OrderEvent::decode_current(&event.event_type, &event.payload)? {
        OrderEvent::Created(order) => ViewOp::Put(new_order(event, &order)),
        OrderEvent::StatusUpdated(e) if e.to.is_final() => ViewOp::Delete,
        OrderEvent::StatusUpdated(e) => patch("status", json!(e.to)),
        OrderEvent::Cancelled(_) => ViewOp::Delete,
        OrderEvent::Due(_) => patch("due", Value::Bool(true)),
    };
    Ok(vec![(key, op)])
}

fn read(rows: Vec<ViewRow>) -> Value {
    let orders = kitchen_queue::by_due_time(rows);
    let mut counts = serde_json::Map::new();
    for status in OPEN {
        let n = orders
            .iter()
            .filter(|o| o["status"] == status.as_str())
            .count();
        counts.insert(status.as_str().into(), json!(n));
    }
    json!({ "orders": orders, "counts": counts })
}
