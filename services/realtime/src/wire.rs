//! The WebSocket wire format: the frame types and close codes of
//! `kitchen-wire` (documented in `docs/asyncapi.yaml` and README.md,
//! "Realtime"), serialised once per event and shared by every socket.
//!
//! Server -> client text frames, JSON:
//! - `{"type": "event", "event": {...}}` — one event; `event.seq` orders them;
//! - `{"type": "ready", "seq": N, "epoch": E}` — catch-up done: everything up
//!   to N was sent, what follows is live; E is the log's incarnation;
//! - `{"type": "command", "commandId", "status", "eventSeqs" | "rejection"}` —
//!   a command of the tenant became final (live only, no seq; after the
//!   command's event frames);
//! - `{"type": "reset", "head": N, "epoch": E}` — the client's `after` is beyond
//!   the head or its `epoch` is not the log's; followed by close 4009.
//!
//! Close codes; every close reason but 4009's ends with `reconnect with
//! after=<N>`, N the last seq sent on that socket (see [`resume_hint`]):
//! - `4001` token expired — get a new token and reconnect with `after`;
//! - `4003` tenant not active — the household was disabled (or removed) while
//!   the socket was open; upgrades are refused with 403 until it is active;
//! - `4008` too slow — the socket did not keep up; reconnect with `after`;
//! - `4009` hydrate again — after a `reset` frame: the client's place does not
//!   exist in the log; hydrate from `GET /v1/snapshot`, reconnect with its
//!   `seq` and `epoch`;
//! - `1011` server error (e.g. the database is unreachable); reconnect later;
//! - `1001` server going away (SIGTERM/SIGINT: the instance is shutting down) —
//!   reason `server going away; reconnect with after=N`; reconnect (to another
//!   instance, or this one once it is back) with `after=N`. Sent to every
//!   socket, whatever phase it is in, before the process exits.

use kitchen_adapters::postgres::stream::FinalOutcome;
use kitchen_domain::queue::CommandStatus;
use kitchen_domain::RecordedEvent;
use kitchen_wire::{EventView, Rejection, StreamFrame};
pub(crate) use kitchen_wire::{
    CLOSE_REHYDRATE, CLOSE_SERVER_ERROR, CLOSE_TENANT_NOT_ACTIVE, CLOSE_TOKEN_EXPIRED,
    CLOSE_TOO_SLOW,
};
use uuid::Uuid;

pub(crate) use kitchen_wire::CLOSE_GOING_AWAY;

/// Why a 4003 close happened (the start of its reason).
pub(crate) const TENANT_NOT_ACTIVE: &str = "tenant not active";

/// The reason of a 4009 close.
pub(crate) const REHYDRATE: &str = "hydrate again from /v1/snapshot";

/// Why a 1001 close happened (the start of its reason).
pub(crate) const GOING_AWAY: &str = "server going away";

/// A close reason: `why` and where to resume, `"<why>; reconnect with
/// after=<last seq sent>"` (well under the 123 bytes a close reason may hold).
pub(crate) fn resume_hint(why: &str, last_sent: i64) -> String {
    format!("{why}; reconnect with after={last_sent}")
}

fn text(frame: &StreamFrame) -> String {
    serde_json::to_string(frame).expect("a frame serialises")
}

/// The text frame of one event (serialised once, shared by every socket).
pub(crate) fn event_frame(event: &RecordedEvent) -> String {
    text(&StreamFrame::Event {
        event: Box::new(EventView::from(event)),
    })
}

pub(crate) fn ready_frame(seq: i64, epoch: Uuid) -> String {
    text(&StreamFrame::Ready { seq, epoch })
}

pub(crate) fn reset_frame(head: i64, epoch: Uuid) -> String {
    text(&StreamFrame::Reset { head, epoch })
}

/// The frame of a final command: `eventSeqs` when it succeeded, `rejection`
/// otherwise (the names of `GET /v1/commands/{id}`).
pub(crate) fn outcome_frame(outcome: &FinalOutcome) -> String {
    let succeeded = outcome.status == CommandStatus::Succeeded;
    text(&StreamFrame::Command {
        command_id: outcome.command_id.as_uuid(),
        status: outcome.status,
        event_seqs: succeeded.then(|| outcome.event_seqs.clone()),
        rejection: outcome.rejection.as_ref().map(|r| Rejection {
            code: r.code.clone(),
            reason: r.reason.clone(),
        }),
    })
}
