//! Value types of orders, valid by construction (parse, don't validate).

use serde::{Deserialize, Serialize};
use std::fmt;

pub use crate::values::NonEmptyText;

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OrderStatus {
    Placed,
    Confirmed,
    Preparing,
    Ready,
    Delivered,
    Cancelled,
}

impl OrderStatus {
    /// The only status an order may move to next by `updateOrderStatus`.
    pub fn next(self) -> Option<OrderStatus> {
        use OrderStatus::*;
        match self {
            Placed => Some(Confirmed),
            Confirmed => Some(Preparing),
            Preparing => Some(Ready),
            Ready => Some(Delivered),
            Delivered | Cancelled => None,
        }
    }

    /// Cancelling is allowed until the kitchen starts preparing.
    pub fn can_cancel(self) -> bool {
        matches!(self, OrderStatus::Placed | OrderStatus::Confirmed)
    }

    pub fn is_final(self) -> bool {
        matches!(self, OrderStatus::Delivered | OrderStatus::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        use OrderStatus::*;
        match self {
            Placed => "placed",
            Confirmed => "confirmed",
            Preparing => "preparing",
            Ready => "ready",
            Delivered => "delivered",
            Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many of one menu item: 1 to 1000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u32")]
pub struct Quantity(u32);

impl Quantity {
    pub const MAX: u32 = 1000;
    pub fn new(value: i64) -> Result<Self, String> {
        if (1..=Self::MAX as i64).contains(&value) {
            Ok(Self(value as u32))
        } else {
            Err(format!(
                "quantity must be between 1 and {}, got {value}",
                Self::MAX
            ))
        }
    }
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<i64> for Quantity {
    type Error = String;
    fn try_from(value: i64) -> Result<Self, String> {
        Self::new(value)
    }
}

impl From<Quantity> for u32 {
    fn from(q: Quantity) -> u32 {
        q.0
    }
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LineItem {
    pub menu_item_id: NonEmptyText,
    pub quantity: Quantity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub special_instructions: Option<String>,
}

/// The lines of an order: 1 to 100 of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<LineItem>", into = "Vec<LineItem>")]
pub struct Items(Vec<LineItem>);

impl Items {
    pub const MAX: usize = 100;
    pub fn new(items: Vec<LineItem>) -> Result<Self, String> {
        if items.is_empty() {
            Err("an order needs at least one item".into())
        } else if items.len() > Self::MAX {
            Err(format!("an order has at most {} items", Self::MAX))
        } else {
            Ok(Self(items))
        }
    }
    pub fn as_slice(&self) -> &[LineItem] {
        &self.0
    }
}

impl TryFrom<Vec<LineItem>> for Items {
    type Error = String;
    fn try_from(items: Vec<LineItem>) -> Result<Self, String> {
        Self::new(items)
    }
}

impl From<Items> for Vec<LineItem> {
    fn from(items: Items) -> Vec<LineItem> {
        items.0
    }
}

/// One line of a placed order, as events and state record it (`OrderCreated`
/// v2): the client's `specialInstructions` became a list of notes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderLine {
    pub menu_item_id: NonEmptyText,
    pub quantity: Quantity,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl From<&LineItem> for OrderLine {
    fn from(item: &LineItem) -> Self {
        OrderLine {
            menu_item_id: item.menu_item_id.clone(),
            quantity: item.quantity,
            notes: item
                .special_instructions
                .iter()
                .filter(|text| !text.trim().is_empty())
                .cloned()
                .collect(),
        }
    }
}

impl Items {
    /// The order lines these items become.
    pub fn to_lines(&self) -> Vec<OrderLine> {
        self.0.iter().map(OrderLine::from).collect()
    }
}
