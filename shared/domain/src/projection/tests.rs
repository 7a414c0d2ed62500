//! Projections checked against the aggregates they summarise: the views folded
//! from a history say what the aggregates' states say, and compacting the
//! changes of one append never changes the result.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};

use super::*;
use crate::aggregate::DomainEvent;
use crate::envelope::RecordedEvent;
use crate::ids::{AggregateId, CorrelationId, EventId, Seq, TenantId, Version};
use crate::menu::{MenuEvent, MenuItemPatch, MenuItemRemoved, NewMenuItem, PriceCents};
use crate::order::*;

/// Builds a log as the store would record it: seqs 1, 2, ... in order.
#[derive(Default)]
struct Log {
    events: Vec<RecordedEvent>,
}

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 12, minute, 0).unwrap()
}

impl Log {
    fn push(&mut self, aggregate_type: &str, id: AggregateId, event_type: &str, payload: Value) {
        let n = self.events.len() as i64 + 1;
        self.events.push(RecordedEvent {
            tenant_id: TenantId::from_uuid(uuid::Uuid::from_u128(7)).unwrap(),
            id: EventId::new_random(),
            aggregate_type: aggregate_type.into(),
            aggregate_id: id,
            version: Version::ZERO.advanced(1),
            seq: Seq::new(n).unwrap(),
            event_type: event_type.into(),
            schema_version: 1,
            payload,
            causation_id: uuid::Uuid::new_v4(),
            correlation_id: CorrelationId::new_random(),
            metadata: json!({}),
            created_at: at(n as u32),
        });
    }

    fn order(&mut self, id: AggregateId, event: OrderEvent) {
        let version = if event.event_type() == "OrderCreated" {
            2
        } else {
            1
        };
        self.push("order", id, event.event_type(), event.to_payload());
        self.events.last_mut().unwrap().schema_version = version;
    }

    fn create(&mut self, id: AggregateId, scheduled_for: Option<DateTime<Utc>>) {
        self.order(
            id,
            OrderEvent::Created(OrderCreated {
                order_id: id,
                customer_id: NonEmptyText::new("sam").unwrap(),
                items: vec![OrderLine {
                    menu_item_id: NonEmptyText::new("soup").unwrap(),
                    quantity: Quantity::new(2).unwrap(),
                    notes: vec![],
                }],
                scheduled_for,
            }),
        );
    }

    fn advance_to(&mut self, id: AggregateId, to: OrderStatus) {
        let mut from = OrderStatus::Placed;
        while from != to {
            let next = from.next().unwrap();
            self.order(
                id,
                OrderEvent::StatusUpdated(OrderStatusUpdated {
                    order_id: id,
                    from,
                    to: next,
                }),
            );
            from = next;
        }
    }

    fn menu(&mut self, event: MenuEvent) {
        let menu_id = AggregateId::from_uuid(uuid::Uuid::from_u128(9)).unwrap();
        self.push("menu", menu_id, event.event_type(), event.to_payload());
    }
}

fn id(n: u128) -> AggregateId {
    AggregateId::from_uuid(uuid::Uuid::from_u128(n)).unwrap()
}

fn view(name: &str, log: &Log) -> Value {
    projection(name).unwrap().fold(&log.events).unwrap()
}

fn order_ids(view: &Value) -> Vec<String> {
    view["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["orderId"].as_str().unwrap().to_owned())
        .collect()
}

/// Five orders in every state: 1 placed, 2 confirmed (scheduled early),
/// 3 preparing, 4 ready, 5 delivered, 6 cancelled and due.
fn five_orders() -> Log {
    let mut log = Log::default();
    log.create(id(1), None);
    log.create(id(2), Some(at(0)));
    log.advance_to(id(2), OrderStatus::Confirmed);
    log.create(id(3), None);
    log.advance_to(id(3), OrderStatus::Preparing);
    log.create(id(4), None);
    log.advance_to(id(4), OrderStatus::Ready);
    log.create(id(5), None);
    log.advance_to(id(5), OrderStatus::Delivered);
    log.create(id(6), None);
    log.order(
        id(6),
        OrderEvent::Due(OrderDue {
            order_id: id(6),
            scheduled_for: at(3),
        }),
    );
    log.order(
        id(6),
        OrderEvent::Cancelled(OrderCancelled {
            order_id: id(6),
            previous_status: OrderStatus::Placed,
            reason: None,
        }),
    );
    log
}

#[test]
fn the_order_board_holds_open_orders_by_due_time_with_counts_by_status() {
    let board = view("orderBoard", &five_orders());
    assert_eq!(
        order_ids(&board),
        [id(2), id(1), id(3), id(4)].map(|i| i.to_string())
    );
    assert_eq!(
        board["counts"],
        json!({"placed": 1, "confirmed": 1, "preparing": 1, "ready": 1})
    );
    let first = &board["orders"][0];
    assert_eq!(first["status"], "confirmed");
    assert_eq!(first["customerId"], "sam");
    assert_eq!(first["dueAt"], "2030-01-01T12:00:00.000000Z");
    assert_eq!(first["items"][0]["quantity"], 2);
}

#[test]
fn the_kitchen_queue_holds_confirmed_and_preparing_orders_only() {
    let queue = view("kitchenQueue", &five_orders());
    assert_eq!(order_ids(&queue), [id(2), id(3)].map(|i| i.to_string()));
    assert_eq!(queue["orders"][1]["status"], "preparing");
}

#[test]
fn the_menu_view_equals_the_menu_aggregates_items() {
    let mut log = Log::default();
    let dish = |id: &str, price| {
        MenuEvent::ItemAdded(NewMenuItem {
            menu_item_id: NonEmptyText::new(id).unwrap(),
            name: NonEmptyText::new(format!("dish {id}")).unwrap(),
            price_cents: PriceCents::new(price).unwrap(),
        })
    };
    let events = vec![
        dish("b-soup", 450),
        dish("a-stew", 900),
        dish("c-tart", 300),
        MenuEvent::ItemChanged(MenuItemPatch {
            menu_item_id: NonEmptyText::new("a-stew").unwrap(),
            name: None,
            price_cents: Some(PriceCents::new(950).unwrap()),
            available: Some(false),
        }),
        MenuEvent::ItemRemoved(MenuItemRemoved {
            menu_item_id: NonEmptyText::new("c-tart").unwrap(),
        }),
    ];
    let aggregate = events.iter().fold(crate::menu::Menu::default(), |menu, e| {
        crate::aggregate::Aggregate::evolve(menu, e)
    });
    for e in events {
        log.menu(e);
    }
    let menu = view("menu", &log);
    let items = menu["items"].as_array().unwrap();
    assert_eq!(items.len(), aggregate.items.len());
    for (item, (key, dish)) in items.iter().zip(&aggregate.items) {
        assert_eq!(item["menuItemId"], key.as_str());
        assert_eq!(item["name"], dish.name.as_str());
        assert_eq!(item["priceCents"], dish.price_cents.get());
        assert_eq!(item["available"], dish.available);
    }
}

#[test]
fn stored_v1_events_are_upcast_before_a_projection_reads_them() {
    let mut log = Log::default();
    log.push(
        "order",
        id(1),
        "OrderCreated",
        json!({"orderId": id(1), "userId": "legacy",
               "items": [{"menuItemId": "soup", "quantity": 1, "specialInstructions": "hot"}]}),
    );
    let board = view("orderBoard", &log);
    assert_eq!(board["orders"][0]["customerId"], "legacy");
    assert_eq!(board["orders"][0]["items"][0]["notes"], json!(["hot"]));
}

#[test]
fn a_corrupt_event_is_an_error_naming_its_seq_not_a_panic() {
    let mut log = Log::default();
    log.push("order", id(1), "OrderCreated", json!({"orderId": 5}));
    let err = projection("orderBoard")
        .unwrap()
        .changes(&log.events)
        .unwrap_err();
    assert_eq!(err.seq, Seq::new(1).unwrap());
    assert!(err.to_string().contains("orderBoard"), "{err}");
}

#[test]
fn compacted_changes_of_one_append_have_the_effect_of_applying_each() {
    let log = five_orders();
    for p in PROJECTIONS {
        // Every prefix of the log applied event by event, and all at once.
        let mut one_by_one = InMemoryView::default();
        for event in &log.events {
            one_by_one.apply(p.changes(std::slice::from_ref(event)).unwrap());
        }
        let mut at_once = InMemoryView::default();
        let compacted = p.changes(&log.events).unwrap();
        let keys: std::collections::BTreeSet<_> = compacted.iter().map(|c| &c.key).collect();
        assert_eq!(keys.len(), compacted.len(), "one change per key");
        at_once.apply(compacted);
        assert_eq!(one_by_one, at_once, "{}", p.name);
    }
}

#[test]
fn compaction_follows_put_merge_and_delete() {
    let doc = |v: Value| match v {
        Value::Object(d) => d,
        _ => unreachable!(),
    };
    let change = |op, seq| ViewChange {
        key: "k".into(),
        op,
        seq: Seq::new(seq).unwrap(),
    };
    let put_then_merge = compact(vec![
        change(ViewOp::Put(doc(json!({"a": 1, "b": 1}))), 1),
        change(ViewOp::Merge(doc(json!({"b": 2}))), 2),
    ]);
    assert_eq!(
        put_then_merge[0].op,
        ViewOp::Put(doc(json!({"a": 1, "b": 2})))
    );
    assert_eq!(put_then_merge[0].seq, Seq::new(2).unwrap());
    let deleted_then_merged = compact(vec![
        change(ViewOp::Delete, 1),
        change(ViewOp::Merge(doc(json!({"b": 2}))), 2),
    ]);
    assert_eq!(deleted_then_merged[0].op, ViewOp::Delete);
    let deleted_then_put = compact(vec![
        change(ViewOp::Delete, 1),
        change(ViewOp::Put(doc(json!({"c": 3}))), 2),
    ]);
    assert_eq!(deleted_then_put[0].op, ViewOp::Put(doc(json!({"c": 3}))));
}

#[test]
fn registry_names_are_unique_and_events_of_other_types_are_skipped() {
    let names: std::collections::BTreeSet<_> = PROJECTIONS.iter().map(|p| p.name).collect();
    assert_eq!(names.len(), PROJECTIONS.len());
    assert!(projection("nope").is_none());
    let mut log = Log::default();
    log.create(id(1), None);
    assert!(projection("menu")
        .unwrap()
        .changes(&log.events)
        .unwrap()
        .is_empty());
}
