//! The WebSocket wire format (documented in README.md, "Realtime").
//!
//! Server -> client text frames, JSON:
//! - `{"type": "event", "event": {...}}` — one event; `event.seq` orders them;
//! - `{"type": "ready", "seq": N}` — catch-up done: everything up to N was sent,
//!   what follows is live.
//!
//! Close codes:
//! - `4001` token expired — get a new token and reconnect with `after`;
//! - `4008` too slow — the socket did not keep up; reconnect with `after`;
//! - `1011` server error (e.g. the database is unreachable); reconnect later;
//! - `1001` server going away (shutdown).

use kitchen_domain::RecordedEvent;
use serde_json::json;

pub const CLOSE_TOKEN_EXPIRED: u16 = 4001;
pub const CLOSE_TOO_SLOW: u16 = 4008;

/// The text frame of one event (serialised once, shared by every socket).
pub fn event_frame(event: &RecordedEvent) -> String {
    json!({"type": "event", "event": event}).to_string()
}

pub fn ready_frame(seq: i64) -> String {
    json!({"type": "ready", "seq": seq}).to_string()
}
