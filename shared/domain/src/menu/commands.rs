//! What may be asked of a menu. Payload field names are the wire format.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::state::{Menu, MenuItemPatch, NewMenuItem};
use crate::aggregate::{to_json, Aggregate, AggregateCommand};
use crate::catalog::{from_json_value, PayloadError};
use crate::ids::{AggregateId, TenantId};
use crate::values::NonEmptyText;

/// Adds a dish; the same shape is recorded as `MenuItemAdded`.
pub type AddMenuItem = NewMenuItem;

/// Changes what is given (at least one of `name`, `priceCents`, `available`);
/// the event `MenuItemChanged` has the same shape and records only what differed.
pub type ChangeMenuItem = MenuItemPatch;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoveMenuItem {
    pub menu_item_id: NonEmptyText,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MenuCommand {
    Add(AddMenuItem),
    Change(ChangeMenuItem),
    Remove(RemoveMenuItem),
}

impl AggregateCommand for MenuCommand {
    type Aggregate = Menu;
    const TYPES: &'static [&'static str] = &["addMenuItem", "changeMenuItem", "removeMenuItem"];
    const CLIENT_TYPES: &'static [&'static str] = Self::TYPES;

    fn parse(command_type: &str, payload: &Value) -> Result<Self, PayloadError> {
        Ok(match command_type {
            "addMenuItem" => Self::Add(from_json_value(payload)?),
            "changeMenuItem" => {
                let change: ChangeMenuItem = from_json_value(payload)?;
                if change.name.is_none()
                    && change.price_cents.is_none()
                    && change.available.is_none()
                {
                    return Err(PayloadError {
                        field: String::new(),
                        reason: "give at least one of `name`, `priceCents`, `available`".into(),
                    });
                }
                Self::Change(change)
            }
            "removeMenuItem" => Self::Remove(from_json_value(payload)?),
            other => {
                return Err(PayloadError {
                    field: String::new(),
                    reason: format!("unknown menu command {other:?}"),
                })
            }
        })
    }

    fn command_type(&self) -> &'static str {
        match self {
            Self::Add(_) => "addMenuItem",
            Self::Change(_) => "changeMenuItem",
            Self::Remove(_) => "removeMenuItem",
        }
    }

    fn to_payload(&self) -> Value {
        match self {
            Self::Add(c) => to_json(c),
            Self::Change(c) => to_json(c),
            Self::Remove(c) => to_json(c),
        }
    }

    /// A tenant has one menu.
    fn aggregate_id(&self, tenant: TenantId) -> AggregateId {
        AggregateId::of_tenant(tenant, Menu::TYPE)
    }
}
