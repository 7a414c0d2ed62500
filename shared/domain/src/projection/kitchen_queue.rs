//! `kitchenQueue`: what to cook next — confirmed and preparing orders by due
//! time. Rows are kept from `OrderCreated` on (the items and due time are only
//! in that event), and the read keeps the two statuses: no change has to look
//! at the stored row to decide whether an order enters the queue.

use serde_json::{json, Value};

use super::change::{ViewOp, ViewRow};
use super::order_board::{new_order, patch, ORDER_EVENTS};
use super::registry::{KeyedOps, Projection};
use crate::aggregate::{DomainEvent, EventDecodeError};
use crate::envelope::RecordedEvent;
use crate::order::{OrderEvent, OrderStatus};

pub(super) const KITCHEN_QUEUE: Projection = Projection {
    name: "kitchenQueue",
    version: 1,
    event_types: ORDER_EVENTS,
    apply,
    read,
};

fn cooking(status: OrderStatus) -> bool {
    matches!(status, OrderStatus::Confirmed | OrderStatus::Preparing)
}

fn apply(event: &RecordedEvent) -> Result<KeyedOps, EventDecodeError> {
    let key = event.aggregate_id.to_string();
    let op = match OrderEvent::decode_current(&event.event_type, &event.payload)? {
        OrderEvent::Created(order) => {
            let mut doc = new_order(event, &order);
            doc.remove("customerId");
            ViewOp::Put(doc)
        }
        OrderEvent::StatusUpdated(e) if cooking(e.to) => patch("status", json!(e.to)),
        OrderEvent::StatusUpdated(_) | OrderEvent::Cancelled(_) => ViewOp::Delete,
        OrderEvent::Due(_) => patch("due", Value::Bool(true)),
    };
    Ok(vec![(key, op)])
}

/// The documents ordered by due time, then order id (both stored as text that
/// sorts like the values).
pub(super) fn by_due_time(rows: Vec<ViewRow>) -> Vec<Value> {
    let mut docs: Vec<Value> = rows.into_iter().map(|r| r.doc).collect();
    let sort_key = |d: &Value| {
        (
            d["dueAt"].as_str().unwrap_or_default().to_owned(),
            d["orderId"].as_str().unwrap_or_default().to_owned(),
        )
    };
    docs.sort_by_key(sort_key);
    docs
}

fn read(rows: Vec<ViewRow>) -> Value {
    let queue: Vec<Value> = by_due_time(rows)
        .into_iter()
        .filter(|d| matches!(d["status"].as_str(), Some("confirmed" | "preparing")))
        .collect();
    json!({ "orders": queue })
}
