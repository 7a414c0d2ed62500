//! Temporal adapters: the command workflow and its activities (run by the
//! worker), and the scheduler that starts it (used by the pump).
//!
//! Workflows only orchestrate and stay deterministic; every I/O happens in the
//! activities, which call the Postgres `CommandUnitOfWork`.
#![forbid(unsafe_code)]

mod client;
pub mod faults;
mod metrics;
mod scheduler;
pub mod tenant;
mod workflow;

pub use client::{connect, connect_with_retry, readiness_check, ConnectError};
pub use metrics::WorkerMetrics;
pub use scheduler::{Route, TemporalScheduler, MEMO_COMMAND_TYPE, MEMO_CORRELATION_ID};
pub use workflow::{
    set_activity_timeout, workflow_id, CommandActivities, CommandRef, CommandWorkflow, TimerRef,
    GENERIC_TIMERS,
};
