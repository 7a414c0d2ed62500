//! Value types shared by aggregates, valid by construction (parse, don't validate).

use serde::{Deserialize, Serialize};

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
