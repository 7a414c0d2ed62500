//! Read models on Postgres (DESIGN.md 7b): the store side of the domain's
//! projections. [`apply`] maintains them inside every append's transaction,
//! [`read`] answers `GET /v1/views/{name}`, [`rebuild`] builds a new
//! projection version beside the old one and switches without downtime.
//! Nothing here is specific to one projection: all of it goes through the
//! domain's registry.

mod apply;
pub mod read;
pub mod rebuild;

pub(crate) use apply::append_changes;
pub use read::{read_view, ViewAt, ViewReadError};
pub use rebuild::{
    rebuild, rebuild_at_startup, Progress, RebuildError, RebuildOptions, RebuildOutcome,
    RebuildScope, RebuiltView, WhenLocked,
};
