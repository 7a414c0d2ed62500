//! What has happened to a menu: past tense, versioned, stored as JSON.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::state::{MenuItemPatch, NewMenuItem};
use crate::aggregate::{decode_payload, to_json, DomainEvent, EventDecodeError};
use crate::values::NonEmptyText;

/// A dish was added (the shape of `addMenuItem`).
pub type MenuItemAdded = NewMenuItem;

/// A dish changed; only the fields that changed are present.
pub type MenuItemChanged = MenuItemPatch;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MenuItemRemoved {
    pub menu_item_id: NonEmptyText,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MenuEvent {
    ItemAdded(MenuItemAdded),
    ItemChanged(MenuItemChanged),
    ItemRemoved(MenuItemRemoved),
}

impl DomainEvent for MenuEvent {
    const CURRENT_VERSIONS: &'static [(&'static str, i32)] = &[
        ("MenuItemAdded", 1),
        ("MenuItemChanged", 1),
        ("MenuItemRemoved", 1),
    ];

    fn event_type(&self) -> &'static str {
        match self {
            Self::ItemAdded(_) => "MenuItemAdded",
            Self::ItemChanged(_) => "MenuItemChanged",
            Self::ItemRemoved(_) => "MenuItemRemoved",
        }
    }

    fn to_payload(&self) -> Value {
        match self {
            Self::ItemAdded(e) => to_json(e),
            Self::ItemChanged(e) => to_json(e),
            Self::ItemRemoved(e) => to_json(e),
        }
    }

    fn decode_current(event_type: &str, payload: &Value) -> Result<Self, EventDecodeError> {
        Ok(match event_type {
            "MenuItemAdded" => Self::ItemAdded(decode_payload(event_type, payload)?),
            "MenuItemChanged" => Self::ItemChanged(decode_payload(event_type, payload)?),
            "MenuItemRemoved" => Self::ItemRemoved(decode_payload(event_type, payload)?),
            other => {
                return Err(EventDecodeError::UnknownType(
                    other.chars().take(64).collect(),
                ))
            }
        })
    }
}
