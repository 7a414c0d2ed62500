//! Value types of orders, valid by construction (parse, don't validate).

use serde::{Deserialize, Serialize};
use std::fmt;

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

/// Text that is not blank and at most 200 characters (ids, reasons, notes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NonEmptyText(String);

impl NonEmptyText {
    pub const MAX_CHARS: usize = 200;
    pub fn new(value: impl Into<String>) -> Result<Self, String> {
        let value = value.into();
        if value.trim().is_empty() {
            Err("must not be empty".into())
        } else if value.chars().count() > Self::MAX_CHARS {
            Err(format!("must be at most {} characters", Self::MAX_CHARS))
        } else {
            Ok(Self(value))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for NonEmptyText {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::new(value)
    }
}

impl From<NonEmptyText> for String {
    fn from(t: NonEmptyText) -> String {
        t.0
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
