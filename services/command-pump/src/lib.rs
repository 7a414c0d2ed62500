//! command-pump: LISTENs on `commands` and sweeps periodically; claims each due
//! command with `FOR UPDATE SKIP LOCKED` inside its tenant's transaction, starts
//! its workflow (`{tenant}-{command}`), and marks it dispatched. Any number of
//! replicas may run: a claim is exclusive, and a duplicate start counts as done.
#![forbid(unsafe_code)]

mod claims;
mod listener;
mod metrics;
mod pump;

pub use metrics::PumpMetrics;
pub use pump::Pump;
