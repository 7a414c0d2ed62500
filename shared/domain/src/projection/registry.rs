//! Every projection the platform maintains, and the one generic way to run
//! one: upcast the events it reads, ask it for changes, compact them.

use serde_json::Value;

use super::change::{compact, InMemoryView, ViewChange, ViewOp, ViewRow};
use super::{kitchen_queue, menu, order_board};
use crate::aggregate::EventDecodeError;
use crate::catalog::{upcast_event, EventValidationError};
use crate::envelope::RecordedEvent;
use crate::ids::Seq;

/// The changes of one event, each with the key of its row.
pub(crate) type KeyedOps = Vec<(String, ViewOp)>;

/// A projection: pure functions plus the facts the store needs about them.
#[derive(Debug)]
pub struct Projection {
    /// The view's name in `GET /v1/views/{name}`.
    pub name: &'static str,
    /// Bump when `apply` or the document shape changes: every tenant's view is
    /// then rebuilt from its log (without downtime) before the new one is read.
    pub version: i32,
    /// The `(aggregate_type, event_type)` pairs it reads; others are skipped.
    pub event_types: &'static [(&'static str, &'static str)],
    /// The changes one event (at its current schema version) makes.
    pub(crate) apply: fn(&RecordedEvent) -> Result<KeyedOps, EventDecodeError>,
    /// The view as clients read it, from its rows (in key order).
    pub(crate) read: fn(Vec<ViewRow>) -> Value,
}

/// The registry, in a fixed order.
pub const PROJECTIONS: &[Projection] = &[
    order_board::ORDER_BOARD,
    kitchen_queue::KITCHEN_QUEUE,
    menu::MENU,
];

/// The projection called `name`.
pub fn projection(name: &str) -> Option<&'static Projection> {
    PROJECTIONS.iter().find(|p| p.name == name)
}

/// An event a projection could not read (a corrupt or unknown stored event).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("projection {projection} cannot read the event at seq {seq}: {source}")]
pub struct ProjectionError {
    pub projection: &'static str,
    pub seq: Seq,
    #[source]
    pub source: EventValidationError,
}

impl Projection {
    /// Whether the projection reads this event at all.
    pub fn reads(&self, aggregate_type: &str, event_type: &str) -> bool {
        self.event_types
            .iter()
            .any(|(a, e)| *a == aggregate_type && *e == event_type)
    }

    /// The changes `events` (in seq order, any schema version: they are upcast
    /// first) make, at most one per key.
    pub fn changes(&self, events: &[RecordedEvent]) -> Result<Vec<ViewChange>, ProjectionError> {
        let mut changes = Vec::new();
        for event in events {
            if !self.reads(&event.aggregate_type, &event.event_type) {
                continue;
            }
            let error = |source| ProjectionError {
                projection: self.name,
                seq: event.seq,
                source,
            };
            let current = upcast_event(event.clone()).map_err(error)?;
            let ops = (self.apply)(&current).map_err(|e| error(e.into()))?;
            changes.extend(ops.into_iter().map(|(key, op)| ViewChange {
                key,
                op,
                seq: event.seq,
            }));
        }
        Ok(compact(changes))
    }

    /// The view clients read, from its stored rows.
    pub fn view(&self, rows: Vec<ViewRow>) -> Value {
        (self.read)(rows)
    }

    /// The view folded from a whole log in memory (what the stored view must equal).
    pub fn fold(&self, events: &[RecordedEvent]) -> Result<Value, ProjectionError> {
        let mut view = InMemoryView::default();
        view.apply(self.changes(events)?);
        Ok(self.view(view.rows()))
    }
}
