//! realtime: WebSocket subscriptions to a tenant's events. A socket gets every
//! event with `seq > after` from the table, then `ready`, then live events — in
//! seq order, each exactly once, never another tenant's. One LISTEN connection
//! per instance feeds in-memory tenant rooms.
#![forbid(unsafe_code)]

mod hub;
mod metrics;
mod outbox;
mod session;
mod socket_quota;
pub mod startup;
mod wire;

pub use startup::build;
#[doc(hidden)]
pub use startup::fuzzing;
