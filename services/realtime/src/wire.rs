//! The WebSocket wire format (documented in README.md, "Realtime").
//!
//! Server -> client text frames, JSON:
//! - `{"type": "event", "event": {...}}` — one event; `event.seq` orders them;
//! - `{"type": "ready", "seq": N}` — catch-up done: everything up to N was sent,
//!   what follows is live.
//!
//! Close codes; every close reason ends with `reconnect with after=<N>`, N the
//! last seq sent on that socket (see [`resume_hint`]):
//! - `4001` token expired — get a new token and reconnect with `after`;
//! - `4008` too slow — the socket did not keep up; reconnect with `after`;
//! - `1011` server error (e.g. the database is unreachable); reconnect later;
//! - `1001` server going away (SIGTERM/SIGINT: the instance is shutting down) —
//!   reason `server going away; reconnect with after=N`; reconnect (to another
//!   instance, or this one once it is back) with `after=N`. Sent to every
//!   socket, whatever phase it is in, before the process exits.

use kitchen_domain::RecordedEvent;
use serde_json::json;

pub const CLOSE_TOKEN_EXPIRED: u16 = 4001;
pub const CLOSE_TOO_SLOW: u16 = 4008;
pub const CLOSE_GOING_AWAY: u16 = 1001;

/// Why a 1001 close happened (the start of its reason).
pub const GOING_AWAY: &str = "server going away";

/// A close reason: `why` and where to resume, `"<why>; reconnect with
/// after=<last seq sent>"` (well under the 123 bytes a close reason may hold).
pub fn resume_hint(why: &str, last_sent: i64) -> String {
    format!("{why}; reconnect with after={last_sent}")
}

/// The text frame of one event (serialised once, shared by every socket).
pub fn event_frame(event: &RecordedEvent) -> String {
    json!({"type": "event", "event": event}).to_string()
}

pub fn ready_frame(seq: i64) -> String {
    json!({"type": "ready", "seq": seq}).to_string()
}
