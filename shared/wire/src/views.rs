//! `GET /v1/views/{name}`: read models (DESIGN.md 7b).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// A read model of the tenant and the log seq it reflects: exactly the fold of
/// the events up to `seq` (views are written in their events' transaction).
///
/// Views: `orderBoard` — `{orders: [...], counts: {placed, confirmed,
/// preparing, ready}}`, every open order with `orderId`, `customerId`,
/// `items`, `status`, `dueAt`, `due`, by due time; `kitchenQueue` —
/// `{orders: [...]}`, the confirmed and preparing orders by due time; `menu`
/// — `{items: [...]}`, each with `menuItemId`, `name`, `priceCents`,
/// `available`, by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ViewAtSeq {
    /// The tenant's log seq the view reflects (0: no events yet).
    pub seq: i64,
    #[schema(value_type = Object)]
    pub view: Value,
}
