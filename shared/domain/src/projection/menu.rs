//! `menu`: the Menu aggregate's current items, one row per dish.

use serde_json::{json, Value};

use super::change::{Doc, ViewOp, ViewRow};
use super::registry::{KeyedOps, Projection};
use crate::aggregate::{DomainEvent, EventDecodeError};
use crate::envelope::RecordedEvent;
use crate::menu::MenuEvent;

pub(super) const MENU: Projection = Projection {
    name: "menu",
    version: 1,
    event_types: &[
        ("menu", "MenuItemAdded"),
        ("menu", "MenuItemChanged"),
        ("menu", "MenuItemRemoved"),
    ],
    apply,
    read,
};

fn object(value: Value) -> Doc {
    match value {
        Value::Object(doc) => doc,
        _ => Doc::new(),
    }
}

fn apply(event: &RecordedEvent) -> Result<KeyedOps, EventDecodeError> {
    Ok(
        match MenuEvent::decode_current(&event.event_type, &event.payload)? {
            MenuEvent::ItemAdded(item) => {
                let mut doc = object(json!(item));
                doc.insert("available".into(), Value::Bool(true));
                vec![(item.menu_item_id.as_str().to_owned(), ViewOp::Put(doc))]
            }
            MenuEvent::ItemChanged(patch) => {
                // Only the fields that changed are serialised: exactly the patch.
                let key = patch.menu_item_id.as_str().to_owned();
                vec![(key, ViewOp::Merge(object(json!(patch))))]
            }
            MenuEvent::ItemRemoved(e) => vec![(e.menu_item_id.as_str().to_owned(), ViewOp::Delete)],
        },
    )
}

fn read(mut rows: Vec<ViewRow>) -> Value {
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    let items: Vec<Value> = rows.into_iter().map(|r| r.doc).collect();
    json!({ "items": items })
}
