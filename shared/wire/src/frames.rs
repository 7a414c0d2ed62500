//! The frames of `GET /v1/stream` (documented in `docs/asyncapi.yaml`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::events::EventView;

/// Close code: the token expired; get a new one and reconnect with `after`.
pub const CLOSE_TOKEN_EXPIRED: u16 = 4001;
/// Close code: the socket's tenant is no longer active (disabled, or gone);
/// do not reconnect until it is active again (an upgrade is refused with 403).
pub const CLOSE_TENANT_NOT_ACTIVE: u16 = 4003;
/// Close code: the socket did not keep up; reconnect with `after`.
pub const CLOSE_TOO_SLOW: u16 = 4008;
/// Close code: server error (the database is unreachable, say); reconnect later.
pub const CLOSE_SERVER_ERROR: u16 = 1011;
/// Close code: the server is shutting down; reconnect (to another instance).
pub const CLOSE_GOING_AWAY: u16 = 1001;

/// A server -> client text frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum StreamFrame {
    /// One event; `event.seq` orders them.
    Event {
        // Boxed: an event is far larger than a `ready` frame.
        #[schema(value_type = EventView)]
        event: Box<EventView>,
    },
    /// Catch-up done: everything up to `seq` was sent; what follows is live.
    Ready { seq: i64 },
}
