//! The WebSocket wire format: the frame types and close codes of
//! `kitchen-wire` (documented in `docs/asyncapi.yaml` and README.md,
//! "Realtime"), serialised once per event and shared by every socket.
//!
//! Server -> client text frames, JSON:
//! - `{"type": "event", "event": {...}}` — one event; `event.seq` orders them;
//! - `{"type": "ready", "seq": N}` — catch-up done: everything up to N was sent,
//!   what follows is live.
//!
//! Close codes: `4001` token expired, `4008` too slow, `1011` server error,
//! `1001` going away (shutdown); each but 1011 carries the resume hint.

use kitchen_domain::RecordedEvent;
use kitchen_wire::{EventView, StreamFrame};
pub(crate) use kitchen_wire::{CLOSE_TOKEN_EXPIRED, CLOSE_TOO_SLOW};

fn text(frame: &StreamFrame) -> String {
    serde_json::to_string(frame).expect("a frame serialises")
}

/// The text frame of one event (serialised once, shared by every socket).
pub(crate) fn event_frame(event: &RecordedEvent) -> String {
    text(&StreamFrame::Event {
        event: EventView::from(event),
    })
}

pub(crate) fn ready_frame(seq: i64) -> String {
    text(&StreamFrame::Ready { seq })
}
