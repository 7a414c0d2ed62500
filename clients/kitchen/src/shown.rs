//! Each event is printed once. In the interactive prompt two paths see the
//! same event: the live stream, and the report of the command that caused it
//! (read from `/v1/events` once the command succeeded). Whichever comes first
//! prints it; the other skips it.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use kitchen_wire::EventView;

use crate::Out;

/// Shared by every clone of a [`crate::Client`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Shown(Arc<Mutex<State>>);

#[derive(Debug, Default)]
struct State {
    /// The stream delivers in seq order: it printed (or skipped) everything
    /// up to here.
    streamed_up_to: i64,
    /// Seqs a report printed ahead of the stream. Dropped once the stream
    /// passes them, so this stays as small as the stream's lag.
    reported_ahead: BTreeSet<i64>,
}

impl Shown {
    /// An event from the stream.
    pub(crate) fn streamed(&self, event: &EventView, out: &Out) {
        // Printing under the lock makes check-and-print one step.
        let mut state = self.0.lock().expect("shown lock");
        let new = !state.reported_ahead.remove(&event.seq);
        state.streamed_up_to = state.streamed_up_to.max(event.seq);
        let past = state.streamed_up_to + 1;
        state.reported_ahead = state.reported_ahead.split_off(&past);
        if new {
            out.line(describe(event));
        }
    }

    /// An event read for a command's report.
    pub(crate) fn reported(&self, event: &EventView, out: &Out) {
        let mut state = self.0.lock().expect("shown lock");
        if event.seq > state.streamed_up_to && state.reported_ahead.insert(event.seq) {
            out.line(describe(event));
        }
    }
}

/// One event, as the CLI prints it.
pub(crate) fn describe(event: &EventView) -> String {
    format!(
        "event #{} {} v{} on {}: {}",
        event.seq, event.event_type, event.version, event.aggregate_id, event.payload
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64) -> EventView {
        serde_json::from_value(serde_json::json!({
            "tenantId": uuid::Uuid::nil(), "id": uuid::Uuid::new_v4(),
            "aggregateType": "order", "aggregateId": uuid::Uuid::nil(), "version": seq,
            "seq": seq, "type": "OrderCreated", "schemaVersion": 1, "payload": {},
            "causationId": uuid::Uuid::nil(), "correlationId": uuid::Uuid::nil(),
            "metadata": {}, "createdAt": "2026-01-01T00:00:00Z"
        }))
        .unwrap()
    }

    fn printed(steps: &[(&str, i64)]) -> Vec<String> {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (shown, out) = (Shown::default(), Out::new(Sink(buffer.clone())));
        for (path, seq) in steps {
            match *path {
                "stream" => shown.streamed(&event(*seq), &out),
                _ => shown.reported(&event(*seq), &out),
            }
        }
        let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| l[..l.find(' ').unwrap() + 3].to_owned())
            .collect()
    }

    #[test]
    fn an_event_seen_by_both_paths_prints_once_whichever_comes_first() {
        assert_eq!(
            printed(&[
                ("stream", 1),
                ("report", 1),
                ("report", 2),
                ("stream", 2),
                ("stream", 3)
            ]),
            ["event #1", "event #2", "event #3"]
        );
    }

    #[test]
    fn each_path_alone_prints_everything() {
        assert_eq!(
            printed(&[("report", 1), ("report", 2)]),
            ["event #1", "event #2"]
        );
        assert_eq!(
            printed(&[("stream", 1), ("stream", 2)]),
            ["event #1", "event #2"]
        );
    }
}
