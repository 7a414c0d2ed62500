//! Property: any sequence of commands, folded through `decide` and `evolve`,
//! leaves an order that satisfies the aggregate's invariants — and the domain
//! service over the in-memory store agrees with the pure fold.

use chrono::{TimeZone, Utc};
use futures_executor::block_on;
use kitchen_domain::aggregate::{Aggregate, Rejection};
use kitchen_domain::memory::InMemoryEventStore;
use kitchen_domain::order::*;
use kitchen_domain::ports::EventStore;
use kitchen_domain::service::{handle_once, Handled};
use kitchen_domain::usecase::EventContext;
use kitchen_domain::{AggregateId, AnyCommand, CommandId, CorrelationId, StreamRef, TenantId};
use proptest::prelude::*;

fn order_id() -> AggregateId {
    "0b9a2c1e-7f61-4d5e-9c57-1f0e3d6a5b42".parse().unwrap()
}

fn status() -> impl Strategy<Value = OrderStatus> {
    prop_oneof![
        Just(OrderStatus::Placed),
        Just(OrderStatus::Confirmed),
        Just(OrderStatus::Preparing),
        Just(OrderStatus::Ready),
        Just(OrderStatus::Delivered),
        Just(OrderStatus::Cancelled),
    ]
}

fn command() -> impl Strategy<Value = OrderCommand> {
    prop_oneof![
        (1i64..5, any::<bool>()).prop_map(|(quantity, scheduled)| {
            OrderCommand::Create(CreateOrder {
                order_id: order_id(),
                user_id: NonEmptyText::new("user-1").unwrap(),
                items: Items::new(vec![LineItem {
                    menu_item_id: NonEmptyText::new("menu-1").unwrap(),
                    quantity: Quantity::new(quantity).unwrap(),
                    special_instructions: None,
                }])
                .unwrap(),
                scheduled_for: scheduled
                    .then(|| Utc.with_ymd_and_hms(2031, 5, 1, 12, 0, 0).unwrap()),
            })
        }),
        status().prop_map(|status| OrderCommand::UpdateStatus(UpdateOrderStatus {
            order_id: order_id(),
            status
        })),
        Just(OrderCommand::Cancel(CancelOrder {
            order_id: order_id(),
            reason: None
        })),
        Just(OrderCommand::MarkDue(MarkOrderDue {
            order_id: order_id()
        })),
    ]
}

/// The invariants an order must hold whatever happened to it.
fn check_invariants(state: &Order, accepted: &[OrderEvent]) {
    let Some(order) = state.placed() else {
        assert!(accepted.is_empty(), "events accepted but no order exists");
        return;
    };
    assert_eq!(
        order.version.get() as usize,
        accepted.len(),
        "version counts events"
    );
    assert!(
        matches!(accepted.first(), Some(OrderEvent::Created(_))),
        "first event creates"
    );
    assert_eq!(
        accepted
            .iter()
            .filter(|e| matches!(e, OrderEvent::Created(_)))
            .count(),
        1,
        "created exactly once"
    );
    assert!(!order.items.as_slice().is_empty(), "an order has items");
    // Statuses only move forward, one step at a time, and nothing follows a
    // final status except a due timer.
    let mut current = OrderStatus::Placed;
    for event in accepted {
        if current.is_final() {
            assert!(
                current == OrderStatus::Delivered && matches!(event, OrderEvent::Due(_)),
                "event {event:?} after final status {current}"
            );
        }
        match event {
            OrderEvent::StatusUpdated(e) => {
                assert_eq!(e.from, current);
                assert_eq!(current.next(), Some(e.to));
                current = e.to;
            }
            OrderEvent::Cancelled(e) => {
                assert!(
                    e.previous_status.can_cancel(),
                    "cancelled from {}",
                    e.previous_status
                );
                current = OrderStatus::Cancelled;
            }
            _ => {}
        }
    }
    assert_eq!(order.status, current);
    let dues = accepted
        .iter()
        .filter(|e| matches!(e, OrderEvent::Due(_)))
        .count();
    assert!(dues <= 1, "due at most once");
    assert_eq!(order.due, dues == 1);
    if order.due {
        assert!(
            order.scheduled_for.is_some(),
            "only scheduled orders fall due"
        );
    }
}

proptest! {
    #[test]
    fn any_command_sequence_folds_into_a_valid_order(commands in prop::collection::vec(command(), 0..40)) {
        let mut state = Order::default();
        let mut accepted = Vec::new();
        for command in &commands {
            if let Ok(events) = state.decide(command) {
                for event in &events {
                    state = state.evolve(event);
                }
                accepted.extend(events);
            }
            check_invariants(&state, &accepted);
        }
        // A snapshot round trip changes nothing.
        let json = serde_json::to_value(&state).unwrap();
        prop_assert_eq!(serde_json::from_value::<Order>(json).unwrap(), state);
    }

    #[test]
    fn the_domain_service_over_a_store_agrees_with_the_pure_fold(commands in prop::collection::vec(command(), 1..25)) {
        let store = InMemoryEventStore::new();
        let tenant = TenantId::new_random();
        let mut pure = Order::default();
        for command in &commands {
            let ctx = EventContext {
                tenant,
                command_id: CommandId::new_random(),
                correlation_id: CorrelationId::new_random(),
                metadata: serde_json::json!({}),
                first_index: 0,
            };
            let any = AnyCommand::Order(command.clone());
            let handled = block_on(handle_once(&store, &any, &ctx)).unwrap();
            match (pure.decide(command), handled) {
                (Ok(events), Handled::Accepted { events: recorded, timers }) => {
                    prop_assert_eq!(events.len(), recorded.len());
                    prop_assert_eq!(timers, any.timers());
                    pure = events.iter().fold(pure, |s, e| s.evolve(e));
                }
                (Err(expected), Handled::Rejected(actual)) => {
                    prop_assert_eq!(expected.code(), actual.code.as_str());
                    prop_assert_eq!(expected.to_string(), actual.reason);
                }
                (pure_result, handled) => prop_assert!(false, "pure {:?} vs service {:?}", pure_result, handled),
            }
        }
        let loaded = block_on(store.load(tenant, &StreamRef::new(Order::TYPE, order_id()))).unwrap();
        let stored: Order = kitchen_domain::usecase::rebuild(&loaded).unwrap();
        prop_assert_eq!(stored, pure);
    }
}
