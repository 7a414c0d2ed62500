//! `application/problem+json` (RFC 9457) and the health bodies.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every error answer. `code` is stable and machine-readable; `detail` is for
/// people; 5xx details never carry internals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Problem {
    /// `/problems/{code}`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    /// The offending field of the request, for 400s, e.g. `payload.items[0].quantity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// `/healthz` and `/readyz` when all is well.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// `ok` (alive) or `ready`.
    pub status: String,
}
