//! command-pump: LISTENs on `commands` and sweeps periodically; claims each due
//! command with `FOR UPDATE SKIP LOCKED` inside its tenant's transaction, starts
//! its workflow (`{tenant}-{command}`), and marks it dispatched. Any number of
//! replicas may run: a claim is exclusive, and a duplicate start counts as done.
//! Due work is dealt round robin over tenants (`fair`), and each pump keeps a
//! heartbeat row for the gateway's overload reading (`heartbeat`).
#![forbid(unsafe_code)]

mod claims;
mod fair;
mod heartbeat;
mod listener;
mod metrics;
mod pump;

pub use metrics::PumpMetrics;
pub use pump::Pump;
