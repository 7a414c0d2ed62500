//! command-gateway: the HTTP edge of the write path. It verifies the caller's
//! token, parses the command through the domain catalog, and queues it in
//! Postgres; the pump and the worker take it from there.
#![forbid(unsafe_code)]

mod admission;
mod auth;
mod cors;
mod login;
pub mod metrics;
pub mod openapi;
mod routes;
pub mod startup;

#[doc(hidden)]
pub use routes::commands::fuzzing;
pub use startup::{build, build_with_pool};
