//! Given/when/then tests of the order rules: given past events, when a command
//! arrives, then these events (or this rejection).

use chrono::{TimeZone, Utc};

use super::*;
use crate::aggregate::{Aggregate, AggregateCommand, Rejection};
use crate::ids::AggregateId;

fn order_id() -> AggregateId {
    "0b9a2c1e-7f61-4d5e-9c57-1f0e3d6a5b42".parse().unwrap()
}

fn items() -> Items {
    Items::new(vec![LineItem {
        menu_item_id: NonEmptyText::new("menu-item-1").unwrap(),
        quantity: Quantity::new(2).unwrap(),
        special_instructions: Some("no onions".into()),
    }])
    .unwrap()
}

fn created(scheduled: bool) -> OrderEvent {
    OrderEvent::Created(OrderCreated {
        order_id: order_id(),
        customer_id: NonEmptyText::new("user-123").unwrap(),
        items: items().to_lines(),
        scheduled_for: scheduled.then(|| Utc.with_ymd_and_hms(2030, 1, 1, 18, 30, 0).unwrap()),
    })
}

fn moved(from: OrderStatus, to: OrderStatus) -> OrderEvent {
    OrderEvent::StatusUpdated(OrderStatusUpdated {
        order_id: order_id(),
        from,
        to,
    })
}

/// Events that bring an order to `status` through the normal path.
fn history_to(status: OrderStatus) -> Vec<OrderEvent> {
    let mut events = vec![created(false)];
    let mut current = OrderStatus::Placed;
    while current != status {
        let next = current.next().expect("status reachable");
        events.push(moved(current, next));
        current = next;
    }
    events
}

fn given(events: &[OrderEvent]) -> Order {
    events.iter().fold(Order::default(), |s, e| s.evolve(e))
}

fn create() -> OrderCommand {
    OrderCommand::Create(CreateOrder {
        order_id: order_id(),
        user_id: NonEmptyText::new("user-123").unwrap(),
        items: items(),
        scheduled_for: None,
    })
}

fn update(status: OrderStatus) -> OrderCommand {
    OrderCommand::UpdateStatus(UpdateOrderStatus {
        order_id: order_id(),
        status,
    })
}

fn cancel() -> OrderCommand {
    OrderCommand::Cancel(CancelOrder {
        order_id: order_id(),
        reason: Some(NonEmptyText::new("changed my mind").unwrap()),
    })
}

fn mark_due() -> OrderCommand {
    OrderCommand::MarkDue(MarkOrderDue {
        order_id: order_id(),
    })
}

#[test]
fn given_no_order_when_created_then_order_created() {
    let events = given(&[]).decide(&create()).unwrap();
    assert_eq!(events, vec![created(false)]);
    let state = given(&events);
    let order = state.placed().unwrap();
    assert_eq!(order.status, OrderStatus::Placed);
    assert_eq!(order.version.get(), 1);
}

#[test]
fn given_an_order_when_created_again_then_rejected_as_existing() {
    let rejection = given(&[created(false)]).decide(&create()).unwrap_err();
    assert_eq!(rejection, OrderRejection::AlreadyExists(order_id()));
    assert_eq!(rejection.code(), "order_already_exists");
}

#[test]
fn given_no_order_when_any_other_command_then_not_found() {
    for command in [update(OrderStatus::Confirmed), cancel(), mark_due()] {
        assert_eq!(
            given(&[]).decide(&command).unwrap_err(),
            OrderRejection::NotFound(order_id()),
            "{command:?}"
        );
    }
}

#[test]
fn given_each_status_when_moved_to_the_next_then_status_updated() {
    let path = [
        OrderStatus::Placed,
        OrderStatus::Confirmed,
        OrderStatus::Preparing,
        OrderStatus::Ready,
    ];
    for from in path {
        let to = from.next().unwrap();
        let events = given(&history_to(from)).decide(&update(to)).unwrap();
        assert_eq!(events, vec![moved(from, to)]);
    }
}

#[test]
fn given_each_status_when_moved_anywhere_but_the_next_then_invalid_transition() {
    use OrderStatus::*;
    let all = [Placed, Confirmed, Preparing, Ready, Delivered, Cancelled];
    for from in [Placed, Confirmed, Preparing, Ready, Delivered] {
        for to in all {
            if from.next() == Some(to) {
                continue;
            }
            let rejection = given(&history_to(from)).decide(&update(to)).unwrap_err();
            assert_eq!(
                rejection,
                OrderRejection::InvalidTransition { from, to },
                "{from} -> {to}"
            );
        }
    }
}

#[test]
fn given_a_delivered_order_the_rejection_says_it_is_final() {
    let rejection = given(&history_to(OrderStatus::Delivered))
        .decide(&update(OrderStatus::Ready))
        .unwrap_err();
    assert!(rejection.to_string().contains("final"), "{rejection}");
}

#[test]
fn given_a_placed_or_confirmed_order_when_cancelled_then_order_cancelled() {
    for status in [OrderStatus::Placed, OrderStatus::Confirmed] {
        let events = given(&history_to(status)).decide(&cancel()).unwrap();
        assert_eq!(
            events,
            vec![OrderEvent::Cancelled(OrderCancelled {
                order_id: order_id(),
                previous_status: status,
                reason: Some(NonEmptyText::new("changed my mind").unwrap()),
            })]
        );
        let mut history = history_to(status);
        history.extend(events);
        assert_eq!(
            given(&history).placed().unwrap().status,
            OrderStatus::Cancelled
        );
    }
}

#[test]
fn given_a_preparing_or_later_order_when_cancelled_then_rejected_with_a_reason() {
    for status in [
        OrderStatus::Preparing,
        OrderStatus::Ready,
        OrderStatus::Delivered,
    ] {
        let rejection = given(&history_to(status)).decide(&cancel()).unwrap_err();
        assert_eq!(rejection, OrderRejection::CannotCancel(status));
    }
    let preparing = given(&history_to(OrderStatus::Preparing))
        .decide(&cancel())
        .unwrap_err();
    assert_eq!(
        preparing.to_string(),
        "order cannot be cancelled once it is preparing"
    );
}

#[test]
fn given_a_cancelled_order_when_cancelled_or_moved_then_rejected() {
    let mut history = history_to(OrderStatus::Placed);
    history.extend(given(&history).decide(&cancel()).unwrap());
    let state = given(&history);
    assert_eq!(
        state.decide(&cancel()).unwrap_err(),
        OrderRejection::CannotCancel(OrderStatus::Cancelled)
    );
    assert!(matches!(
        state.decide(&update(OrderStatus::Confirmed)).unwrap_err(),
        OrderRejection::InvalidTransition { .. }
    ));
}

#[test]
fn given_a_scheduled_order_when_due_then_order_due_once() {
    let state = given(&[created(true)]);
    let events = state.decide(&mark_due()).unwrap();
    assert!(matches!(events.as_slice(), [OrderEvent::Due(_)]));
    let state = events.iter().fold(state, |s, e| s.evolve(e));
    assert!(state.placed().unwrap().due);
    assert_eq!(
        state.decide(&mark_due()).unwrap_err(),
        OrderRejection::AlreadyDue
    );
}

#[test]
fn given_an_unscheduled_order_when_due_then_rejected() {
    assert_eq!(
        given(&[created(false)]).decide(&mark_due()).unwrap_err(),
        OrderRejection::NotScheduled
    );
}

#[test]
fn given_a_cancelled_scheduled_order_when_due_then_rejected() {
    let mut history = vec![created(true)];
    history.extend(given(&history).decide(&cancel()).unwrap());
    assert_eq!(
        given(&history).decide(&mark_due()).unwrap_err(),
        OrderRejection::WasCancelled(order_id())
    );
}

#[test]
fn invalid_payloads_never_become_commands() {
    use serde_json::json;
    let id = order_id().to_string();
    let bad = [
        json!({"orderId": id, "userId": "u", "items": []}),
        json!({"orderId": id, "userId": "", "items": [{"menuItemId": "m", "quantity": 1}]}),
        json!({"orderId": id, "userId": "u", "items": [{"menuItemId": "m", "quantity": -1}]}),
        json!({"orderId": id, "userId": "u", "items": [{"menuItemId": "m", "quantity": 1001}]}),
        json!({"orderId": "nope", "userId": "u", "items": [{"menuItemId": "m", "quantity": 1}]}),
        json!({"orderId": id, "userId": "u", "items": [{"menuItemId": "m", "quantity": 1}], "extra": 1}),
        json!({"orderId": id, "userId": "u", "items": [{"menuItemId": "m", "quantity": 1}], "scheduledFor": "tomorrow"}),
    ];
    for payload in bad {
        assert!(
            OrderCommand::parse("createOrder", &payload).is_err(),
            "{payload}"
        );
    }
    assert!(OrderCommand::parse(
        "updateOrderStatus",
        &json!({"orderId": id, "status": "eaten"})
    )
    .is_err());
}

#[test]
fn every_event_round_trips_through_its_stored_parts() {
    use crate::aggregate::DomainEvent;
    let mut history = history_to(OrderStatus::Confirmed);
    history.push(OrderEvent::Cancelled(OrderCancelled {
        order_id: order_id(),
        previous_status: OrderStatus::Confirmed,
        reason: None,
    }));
    history.push(OrderEvent::Due(OrderDue {
        order_id: order_id(),
        scheduled_for: Utc::now(),
    }));
    for event in history {
        let back = OrderEvent::from_parts(
            event.event_type(),
            event.schema_version(),
            &event.to_payload(),
        )
        .unwrap();
        assert_eq!(back, event);
    }
}

/// An `OrderCreated` as release 1 wrote it (schema version 1).
fn created_v1_payload(special_instructions: Option<&str>) -> serde_json::Value {
    let mut item = serde_json::json!({"menuItemId": "menu-item-1", "quantity": 2});
    if let Some(text) = special_instructions {
        item["specialInstructions"] = text.into();
    }
    serde_json::json!({
        "orderId": order_id(),
        "userId": "user-123",
        "items": [item],
        "scheduledFor": "2030-01-01T18:30:00Z",
    })
}

#[test]
fn a_stored_v1_order_created_reads_as_v2() {
    use crate::aggregate::DomainEvent;
    let event =
        OrderEvent::from_parts("OrderCreated", 1, &created_v1_payload(Some("no onions"))).unwrap();
    assert_eq!(event, created(true));
    assert_eq!(event.schema_version(), 2);
    let payload = event.to_payload();
    assert_eq!(payload["customerId"], "user-123");
    assert_eq!(
        payload["items"][0]["notes"],
        serde_json::json!(["no onions"])
    );
    assert!(payload.get("userId").is_none(), "{payload}");
}

#[test]
fn a_v1_item_without_instructions_has_no_notes() {
    use crate::aggregate::DomainEvent;
    let OrderEvent::Created(created) =
        OrderEvent::from_parts("OrderCreated", 1, &created_v1_payload(None)).unwrap()
    else {
        panic!("not a creation")
    };
    assert!(created.items[0].notes.is_empty());
}

#[test]
fn a_future_or_unknown_version_is_a_typed_error_naming_the_event() {
    use crate::aggregate::{DomainEvent, EventDecodeError};
    for version in [3, 0, -1] {
        let err =
            OrderEvent::from_parts("OrderCreated", version, &created_v1_payload(None)).unwrap_err();
        assert_eq!(
            err,
            EventDecodeError::UnknownSchemaVersion {
                event_type: "OrderCreated".into(),
                schema_version: version,
                current: 2,
            }
        );
        assert!(err.to_string().contains("OrderCreated"), "{err}");
    }
}

#[test]
fn a_v1_payload_of_the_wrong_shape_is_refused_not_upcast_into_garbage() {
    use crate::aggregate::DomainEvent;
    let mut payload = created_v1_payload(None);
    payload["items"][0]["specialInstructions"] = 7.into();
    assert!(OrderEvent::from_parts("OrderCreated", 1, &payload).is_err());
    assert!(OrderEvent::from_parts("OrderCreated", 1, &serde_json::json!([])).is_err());
}

#[test]
fn a_scheduled_order_asks_for_one_due_timer_and_others_for_none() {
    let at = Utc.with_ymd_and_hms(2030, 1, 1, 18, 30, 0).unwrap();
    let OrderCommand::Create(mut create) = create() else {
        unreachable!()
    };
    assert!(Order::timers(&OrderCommand::Create(create.clone())).is_empty());
    create.scheduled_for = Some(at);
    let timers = Order::timers(&OrderCommand::Create(create));
    assert_eq!(timers.len(), 1);
    assert_eq!(timers[0].due_at, at);
    assert_eq!(timers[0].command, mark_due());
    for command in [update(OrderStatus::Confirmed), cancel(), mark_due()] {
        assert!(Order::timers(&command).is_empty(), "{command:?}");
    }
}
