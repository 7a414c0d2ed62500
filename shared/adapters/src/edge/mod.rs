//! The HTTP edge every service shares (gateway, realtime, the ops servers of
//! pump and worker): errors as problem+json with the auth-failure-to-status
//! rule in one place, typed query strings, the bearer token of a request,
//! readiness, and how a server is bound, run and stopped. Written once so the
//! services cannot answer the same failure in different ways.

mod origin;
mod problem;
mod query;
mod readiness;
mod server;
mod token;

pub use origin::OriginPolicy;
pub use problem::ApiError;
pub use query::{parse_query, query_config, Query};
pub use readiness::{healthz, Check, CheckFn, Readiness};
pub use server::{BoundServer, Listen};
pub use token::{request_token, TokenSource, SUBPROTOCOL};
