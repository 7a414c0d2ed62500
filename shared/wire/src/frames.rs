//! The frames of `GET /v1/stream` (documented in `docs/asyncapi.yaml`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::commands::{status_schema, CommandStatus, Rejection};
use crate::events::EventView;

/// Close code: the token expired; get a new one and reconnect with `after`.
pub const CLOSE_TOKEN_EXPIRED: u16 = 4001;
/// Close code: the socket's tenant is no longer active (disabled, or gone);
/// do not reconnect until it is active again (an upgrade is refused with 403).
pub const CLOSE_TENANT_NOT_ACTIVE: u16 = 4003;
/// Close code: the socket did not keep up; reconnect with `after`.
pub const CLOSE_TOO_SLOW: u16 = 4008;
/// Close code: the client's place in the log does not exist (its `after` is
/// beyond the head, or its `epoch` is not the log's): hydrate again from
/// `GET /v1/snapshot` and reconnect with that snapshot's `seq` and `epoch`.
/// Sent right after a `reset` frame.
pub const CLOSE_REHYDRATE: u16 = 4009;
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
    /// `epoch` names this incarnation of the tenant's log (as in
    /// `GET /v1/snapshot`); pass it back as `epoch` when reconnecting.
    Ready { seq: i64, epoch: Uuid },
    /// A command of the tenant became final. Not a log entry (no seq) and
    /// live only: never replayed at catch-up (`GET /v1/commands/{id}` is the
    /// source of truth). A succeeded command's event frames come before it.
    #[serde(rename_all = "camelCase")]
    Command {
        command_id: Uuid,
        #[schema(schema_with = status_schema)]
        status: CommandStatus,
        /// Seqs of the events it appended (present when `succeeded`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_seqs: Option<Vec<i64>>,
        /// Why it ended without events (present when `rejected` or `failed`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rejection: Option<Rejection>,
    },
    /// The client's `after` is beyond the log's head, or its `epoch` is not
    /// the log's (the tenant's log was recreated): nothing it has lines up
    /// with the log. The socket closes at once with code 4009
    /// (`CLOSE_REHYDRATE`): hydrate again from `GET /v1/snapshot`.
    Reset { head: i64, epoch: Uuid },
}
