//! Valid domain events and commands for tests, built through the domain crate
//! so they always match the catalog.

use kitchen_domain::aggregate::{Aggregate, DomainEvent};
use kitchen_domain::order::*;
use kitchen_domain::usecase::{envelopes, EventContext};
use kitchen_domain::{AggregateId, CommandId, CorrelationId, NewEvent, StreamRef, TenantId};
use serde_json::json;

/// The stream of order `id`.
pub fn order_stream(id: AggregateId) -> StreamRef {
    StreamRef::new(Order::TYPE, id)
}

pub fn create_order(id: AggregateId) -> OrderCommand {
    OrderCommand::Create(CreateOrder {
        order_id: id,
        user_id: NonEmptyText::new("user-1").unwrap(),
        items: Items::new(vec![LineItem {
            menu_item_id: NonEmptyText::new("menu-item-1").unwrap(),
            quantity: Quantity::new(1).unwrap(),
            special_instructions: None,
        }])
        .unwrap(),
        scheduled_for: None,
    })
}

/// An `OrderCreated` event envelope for order `id`, caused by a fresh command.
pub fn order_created(id: AggregateId) -> NewEvent {
    let events = Order::default().decide(&create_order(id)).unwrap();
    to_envelopes(&events).remove(0)
}

/// An `OrderStatusUpdated` envelope (shape-valid whatever the stream's state).
pub fn status_updated(id: AggregateId) -> NewEvent {
    let event = OrderEvent::StatusUpdated(OrderStatusUpdated {
        order_id: id,
        from: OrderStatus::Placed,
        to: OrderStatus::Confirmed,
    });
    to_envelopes(&[event]).remove(0)
}

/// The state after `OrderCreated` for order `id`, as a snapshot value.
pub fn created_snapshot(id: AggregateId) -> serde_json::Value {
    let state = Order::default();
    let events = state.decide(&create_order(id)).unwrap();
    let state = events.iter().fold(state, |s, e| s.evolve(e));
    serde_json::to_value(state).unwrap()
}

fn to_envelopes<E: DomainEvent>(events: &[E]) -> Vec<NewEvent> {
    let ctx = EventContext {
        tenant: TenantId::new_random(),
        command_id: CommandId::new_random(),
        correlation_id: CorrelationId::new_random(),
        metadata: json!({"source": "test"}),
        first_index: 0,
    };
    envelopes(&ctx, events)
}

/// An `OrderCreated` of about 20 KB (100 lines with long notes), for tests of
/// payloads beyond NOTIFY's limit and of slow consumers.
pub fn big_order_created(id: AggregateId) -> NewEvent {
    let lines = (0..100)
        .map(|i| LineItem {
            menu_item_id: NonEmptyText::new(format!("menu-item-{i}")).unwrap(),
            quantity: Quantity::new(1).unwrap(),
            special_instructions: Some("x".repeat(190)),
        })
        .collect();
    let command = OrderCommand::Create(CreateOrder {
        order_id: id,
        user_id: NonEmptyText::new("user-1").unwrap(),
        items: Items::new(lines).unwrap(),
        scheduled_for: None,
    });
    let events = Order::default().decide(&command).unwrap();
    to_envelopes(&events).remove(0)
}

/// SQL that seeds an order as release 1 wrote it, for a tenant with no events
/// yet: the seq row, an `OrderCreated` **v1** row (`userId`, an item with
/// `specialInstructions: "no salt"`) and a snapshot of the v1 state shape (no
/// `schema_version`: the column's default). One statement each, run as the
/// worker (see `TestDb::execute_as_worker`); reads must see it as v2.
pub fn v1_order_rows(
    tenant: kitchen_domain::TenantId,
    order: AggregateId,
    command: CommandId,
) -> [String; 3] {
    let event_id = uuid::Uuid::new_v4();
    let payload = json!({"orderId": order, "userId": "legacy-user",
        "items": [{"menuItemId": "soup", "quantity": 2, "specialInstructions": "no salt"}]});
    let state = json!({"state": "placed", "orderId": order, "userId": "legacy-user",
        "items": [{"menuItemId": "soup", "quantity": 2, "specialInstructions": "no salt"}],
        "status": "placed", "due": false, "version": 1});
    [
        format!("INSERT INTO tenant_sequences (tenant_id, last_seq) VALUES ('{tenant}', 1)"),
        format!(
            "INSERT INTO events (tenant_id, id, aggregate_type, aggregate_id, version, seq, type,
                                 schema_version, payload, causation_id, correlation_id, metadata)
             VALUES ('{tenant}', '{event_id}', 'order', '{order}', 1, 1, 'OrderCreated', 1,
                     '{payload}', '{command}', '{command}', '{{}}')"
        ),
        format!(
            "INSERT INTO aggregates (tenant_id, id, type, snapshot, version, seq)
             VALUES ('{tenant}', '{order}', 'order', '{state}', 1, 1)"
        ),
    ]
}

/// Appends `order`'s `OrderCreated` (with its snapshot) as a new stream of
/// `tenant`; what was recorded. Panics if the store refuses.
pub async fn append_created<S: kitchen_domain::ports::EventStore>(
    store: &S,
    tenant: TenantId,
    order: AggregateId,
) -> Vec<kitchen_domain::RecordedEvent> {
    store
        .append(
            tenant,
            &order_stream(order),
            kitchen_domain::Version::ZERO,
            vec![order_created(order)],
            created_snapshot(order),
        )
        .await
        .expect("the new order's first event is appended")
}

/// The row the gateway queues for `command_type` with `payload` (parsed and
/// routed through the catalog, as the gateway does); panics on a payload the
/// catalog refuses.
pub fn queued_command(
    tenant: TenantId,
    command_type: &str,
    payload: &serde_json::Value,
) -> kitchen_domain::queue::NewCommand {
    let command = kitchen_domain::AnyCommand::parse(command_type, payload)
        .unwrap_or_else(|e| panic!("{command_type} {payload}: {e}"));
    kitchen_domain::queue::NewCommand {
        id: CommandId::new_random(),
        tenant_id: tenant,
        command_type: command_type.into(),
        payload: command.to_payload(),
        aggregate_id: command.stream(tenant).aggregate_id,
        user_id: Some("test-user".into()),
        correlation_id: CorrelationId::new_random(),
        metadata: json!({}),
    }
}
