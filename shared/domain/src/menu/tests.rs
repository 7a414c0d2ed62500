//! Given/when/then tests of the menu rules.

use serde_json::json;

use super::*;
use crate::aggregate::{Aggregate, AggregateCommand, DomainEvent, Rejection};
use crate::ids::{AggregateId, TenantId};
use crate::values::NonEmptyText;

fn text(s: &str) -> NonEmptyText {
    NonEmptyText::new(s).unwrap()
}

fn add(id: &str, price: i64) -> MenuCommand {
    MenuCommand::Add(AddMenuItem {
        menu_item_id: text(id),
        name: text("Tomato soup"),
        price_cents: PriceCents::new(price).unwrap(),
    })
}

fn added(id: &str, price: i64) -> MenuEvent {
    MenuEvent::ItemAdded(MenuItemAdded {
        menu_item_id: text(id),
        name: text("Tomato soup"),
        price_cents: PriceCents::new(price).unwrap(),
    })
}

fn change(id: &str) -> ChangeMenuItem {
    ChangeMenuItem {
        menu_item_id: text(id),
        name: None,
        price_cents: None,
        available: None,
    }
}

fn given(events: &[MenuEvent]) -> Menu {
    events.iter().fold(Menu::default(), |s, e| s.evolve(e))
}

#[test]
fn given_an_empty_menu_when_an_item_is_added_then_it_is_on_the_menu_and_available() {
    let events = given(&[]).decide(&add("soup", 450)).unwrap();
    assert_eq!(events, vec![added("soup", 450)]);
    let menu = given(&events);
    let item = menu.item(&text("soup")).unwrap();
    assert_eq!(item.price_cents.get(), 450);
    assert!(item.available);
}

#[test]
fn given_an_item_when_added_again_then_rejected_as_existing() {
    let rejection = given(&[added("soup", 450)])
        .decide(&add("soup", 500))
        .unwrap_err();
    assert_eq!(rejection, MenuRejection::ItemExists("soup".into()));
    assert_eq!(rejection.code(), "menu_item_exists");
}

#[test]
fn given_an_item_when_changed_then_only_what_differs_is_recorded() {
    let mut c = change("soup");
    c.name = Some(text("Tomato soup")); // the same name: not a change
    c.price_cents = Some(PriceCents::new(500).unwrap());
    c.available = Some(false);
    let events = given(&[added("soup", 450)])
        .decide(&MenuCommand::Change(c))
        .unwrap();
    assert_eq!(
        events,
        vec![MenuEvent::ItemChanged(MenuItemChanged {
            menu_item_id: text("soup"),
            name: None,
            price_cents: Some(PriceCents::new(500).unwrap()),
            available: Some(false),
        })]
    );
    let mut history = vec![added("soup", 450)];
    history.extend(events);
    let item = given(&history).item(&text("soup")).unwrap().clone();
    assert_eq!((item.price_cents.get(), item.available), (500, false));
}

#[test]
fn given_an_item_when_changed_to_the_same_values_then_rejected() {
    let mut c = change("soup");
    c.price_cents = Some(PriceCents::new(450).unwrap());
    let rejection = given(&[added("soup", 450)])
        .decide(&MenuCommand::Change(c))
        .unwrap_err();
    assert_eq!(rejection.code(), "menu_item_unchanged");
}

#[test]
fn given_no_such_item_when_changed_or_removed_then_not_found() {
    let mut c = change("soup");
    c.available = Some(false);
    let remove = MenuCommand::Remove(RemoveMenuItem {
        menu_item_id: text("soup"),
    });
    for command in [MenuCommand::Change(c), remove] {
        let rejection = given(&[added("bread", 100)]).decide(&command).unwrap_err();
        assert_eq!(rejection, MenuRejection::ItemNotFound("soup".into()));
    }
}

#[test]
fn given_an_item_when_removed_then_it_is_gone_and_can_be_added_again() {
    let remove = MenuCommand::Remove(RemoveMenuItem {
        menu_item_id: text("soup"),
    });
    let mut history = vec![added("soup", 450)];
    history.extend(given(&history).decide(&remove).unwrap());
    assert!(given(&history).item(&text("soup")).is_none());
    assert!(given(&history).decide(&add("soup", 450)).is_ok());
}

#[test]
fn given_a_full_menu_when_an_item_is_added_then_rejected() {
    let history: Vec<MenuEvent> = (0..Menu::MAX_ITEMS)
        .map(|i| added(&format!("item-{i}"), 100))
        .collect();
    let rejection = given(&history).decide(&add("one-more", 100)).unwrap_err();
    assert_eq!(rejection, MenuRejection::MenuFull);
}

#[test]
fn bad_payloads_never_become_commands() {
    let bad = [
        (
            "addMenuItem",
            json!({"menuItemId": "soup", "name": "Soup", "priceCents": -1}),
        ),
        (
            "addMenuItem",
            json!({"menuItemId": "soup", "name": "", "priceCents": 1}),
        ),
        (
            "addMenuItem",
            json!({"menuItemId": "soup", "priceCents": 1}),
        ),
        (
            "addMenuItem",
            json!({"menuItemId": "soup", "name": "Soup", "priceCents": 1, "x": 1}),
        ),
        ("changeMenuItem", json!({"menuItemId": "soup"})),
        (
            "changeMenuItem",
            json!({"menuItemId": "soup", "available": "yes"}),
        ),
        ("removeMenuItem", json!({})),
    ];
    for (command_type, payload) in bad {
        assert!(
            MenuCommand::parse(command_type, &payload).is_err(),
            "{command_type} {payload}"
        );
    }
}

#[test]
fn every_command_of_a_tenant_is_about_its_one_menu() {
    let tenant = TenantId::new_random();
    let id = add("soup", 1).aggregate_id(tenant);
    assert_eq!(id, AggregateId::of_tenant(tenant, Menu::TYPE));
    assert_eq!(
        MenuCommand::Remove(RemoveMenuItem {
            menu_item_id: text("x")
        })
        .aggregate_id(tenant),
        id
    );
    assert_ne!(add("soup", 1).aggregate_id(TenantId::new_random()), id);
}

#[test]
fn every_event_round_trips_through_its_stored_parts() {
    let mut c = MenuItemChanged {
        menu_item_id: text("soup"),
        name: Some(text("Soup")),
        price_cents: None,
        available: Some(true),
    };
    c.price_cents = Some(PriceCents::new(1).unwrap());
    for event in [
        added("soup", 450),
        MenuEvent::ItemChanged(c),
        MenuEvent::ItemRemoved(MenuItemRemoved {
            menu_item_id: text("soup"),
        }),
    ] {
        let back = MenuEvent::from_parts(
            event.event_type(),
            event.schema_version(),
            &event.to_payload(),
        )
        .unwrap();
        assert_eq!(back, event);
    }
}
