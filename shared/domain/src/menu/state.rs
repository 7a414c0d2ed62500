//! The state of a menu, and how events fold into it (`evolve`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::events::MenuEvent;
use crate::values::NonEmptyText;

/// A price in cents: 0 to 10,000,000 (a hundred thousand in the currency).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct PriceCents(i64);

impl PriceCents {
    pub const MAX: i64 = 10_000_000;
    pub fn new(value: i64) -> Result<Self, String> {
        if (0..=Self::MAX).contains(&value) {
            Ok(Self(value))
        } else {
            Err(format!(
                "priceCents must be between 0 and {}, got {value}",
                Self::MAX
            ))
        }
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for PriceCents {
    type Error = String;
    fn try_from(value: i64) -> Result<Self, String> {
        Self::new(value)
    }
}

impl From<PriceCents> for i64 {
    fn from(p: PriceCents) -> i64 {
        p.0
    }
}

/// A dish to add, and the fact that it was added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewMenuItem {
    pub menu_item_id: NonEmptyText,
    pub name: NonEmptyText,
    pub price_cents: PriceCents,
}

/// Fields of a dish to change (a command), or that changed (an event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MenuItemPatch {
    pub menu_item_id: NonEmptyText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<NonEmptyText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_cents: Option<PriceCents>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<bool>,
}

/// One dish on the menu.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MenuItem {
    pub name: NonEmptyText,
    pub price_cents: PriceCents,
    pub available: bool,
}

/// A household's menu: items by id, in id order. Empty until the first item.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Menu {
    pub items: BTreeMap<String, MenuItem>,
}

impl Menu {
    /// The most items a menu holds.
    pub const MAX_ITEMS: usize = 500;

    pub fn item(&self, id: &NonEmptyText) -> Option<&MenuItem> {
        self.items.get(id.as_str())
    }

    /// Applies a fact; events that name an unknown item change nothing.
    pub(super) fn apply(mut self, event: &MenuEvent) -> Menu {
        match event {
            MenuEvent::ItemAdded(e) => {
                self.items.insert(
                    e.menu_item_id.as_str().to_owned(),
                    MenuItem {
                        name: e.name.clone(),
                        price_cents: e.price_cents,
                        available: true,
                    },
                );
            }
            MenuEvent::ItemChanged(e) => {
                if let Some(item) = self.items.get_mut(e.menu_item_id.as_str()) {
                    if let Some(name) = &e.name {
                        item.name = name.clone();
                    }
                    if let Some(price) = e.price_cents {
                        item.price_cents = price;
                    }
                    if let Some(available) = e.available {
                        item.available = available;
                    }
                }
            }
            MenuEvent::ItemRemoved(e) => {
                self.items.remove(e.menu_item_id.as_str());
            }
        }
        self
    }
}
