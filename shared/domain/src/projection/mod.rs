//! Read models (DESIGN.md section 7b): projections turn events into view rows.
//!
//! A projection is pure: for each event it reads it returns per-key changes
//! ([`ViewOp`]) that need no read of the view — a whole document to put, a
//! shallow patch to merge into the stored one, or a delete — so the store applies
//! every change of an append in one statement, inside the append's transaction.
//! Totals (counts by status, sort orders, filters) are computed when the view is
//! read ([`Projection::view`]), never stored, so no change depends on another.
//!
//! The store knows projections only through the [`registry`]: name, version,
//! the event types read, `changes` and `view`. Nothing outside this crate is
//! specific to one projection.

mod change;
mod kitchen_queue;
mod menu;
mod order_board;
mod registry;

#[cfg(test)]
mod tests;

pub use change::{compact, Doc, InMemoryView, ViewChange, ViewOp, ViewRow};
pub use registry::{projection, Projection, ProjectionError, PROJECTIONS};

use chrono::{DateTime, SecondsFormat, Utc};

/// A timestamp as view documents store it: RFC 3339, UTC, microseconds, so
/// that documents compare and sort as text exactly as the instants do.
pub(crate) fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}
