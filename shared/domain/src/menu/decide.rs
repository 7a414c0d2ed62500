//! The rules: which commands a menu accepts, and the events they produce.

use super::commands::MenuCommand;
use super::events::{MenuEvent, MenuItemAdded, MenuItemChanged, MenuItemRemoved};
use super::state::Menu;
use crate::aggregate::{Aggregate, Rejection};

/// Why a menu refused a command. The `Display` text is what the client sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MenuRejection {
    #[error("menu item {0:?} already exists")]
    ItemExists(String),
    #[error("menu item {0:?} does not exist")]
    ItemNotFound(String),
    #[error("menu item {0:?} already has these values")]
    NothingChanged(String),
    #[error("the menu is full ({} items)", Menu::MAX_ITEMS)]
    MenuFull,
}

impl Rejection for MenuRejection {
    fn code(&self) -> &'static str {
        match self {
            Self::ItemExists(_) => "menu_item_exists",
            Self::ItemNotFound(_) => "menu_item_not_found",
            Self::NothingChanged(_) => "menu_item_unchanged",
            Self::MenuFull => "menu_full",
        }
    }
}

impl Aggregate for Menu {
    const TYPE: &'static str = "menu";
    const STATE_VERSION: i32 = 1;
    type Command = MenuCommand;
    type Event = MenuEvent;
    type Rejection = MenuRejection;

    fn decide(&self, command: &MenuCommand) -> Result<Vec<MenuEvent>, MenuRejection> {
        match command {
            MenuCommand::Add(c) => {
                if self.item(&c.menu_item_id).is_some() {
                    return Err(MenuRejection::ItemExists(c.menu_item_id.as_str().into()));
                }
                if self.items.len() >= Menu::MAX_ITEMS {
                    return Err(MenuRejection::MenuFull);
                }
                Ok(vec![MenuEvent::ItemAdded(MenuItemAdded {
                    menu_item_id: c.menu_item_id.clone(),
                    name: c.name.clone(),
                    price_cents: c.price_cents,
                })])
            }
            MenuCommand::Change(c) => {
                let id = c.menu_item_id.as_str();
                let item = self
                    .item(&c.menu_item_id)
                    .ok_or_else(|| MenuRejection::ItemNotFound(id.into()))?;
                // Only what differs is recorded; a change to nothing is refused.
                let changed = MenuItemChanged {
                    menu_item_id: c.menu_item_id.clone(),
                    name: c.name.clone().filter(|n| *n != item.name),
                    price_cents: c.price_cents.filter(|p| *p != item.price_cents),
                    available: c.available.filter(|a| *a != item.available),
                };
                if changed.name.is_none()
                    && changed.price_cents.is_none()
                    && changed.available.is_none()
                {
                    return Err(MenuRejection::NothingChanged(id.into()));
                }
                Ok(vec![MenuEvent::ItemChanged(changed)])
            }
            MenuCommand::Remove(c) => {
                if self.item(&c.menu_item_id).is_none() {
                    return Err(MenuRejection::ItemNotFound(c.menu_item_id.as_str().into()));
                }
                Ok(vec![MenuEvent::ItemRemoved(MenuItemRemoved {
                    menu_item_id: c.menu_item_id.clone(),
                })])
            }
        }
    }

    fn evolve(self, event: &MenuEvent) -> Menu {
        self.apply(event)
    }
}
