//! The pump's series, in a registry of its own (see `kitchen_adapters::metrics`).
//! Fields are public so tests can read the counts without scraping.

use std::time::Duration;

use kitchen_adapters::metrics::{self, MetricsError};
use prometheus::{Histogram, IntCounter, Registry};

#[derive(Debug, Clone)]
pub struct PumpMetrics {
    registry: Registry,
    /// Commands this pump claimed (each claim leads to one start attempt).
    pub claims: IntCounter,
    /// Workflows started by this pump.
    pub started: IntCounter,
    /// Starts answered "already started" (counted as dispatched).
    pub already_started: IntCounter,
    /// Starts that failed or timed out (the command went back to pending).
    pub start_failures: IntCounter,
    /// From the claim's commit to Temporal's answer to the start.
    pub claim_to_start: Histogram,
    /// Claims refused because the tenant was at `pump.max_in_flight_per_tenant`.
    pub held_at_cap: IntCounter,
}

impl PumpMetrics {
    pub fn new() -> Result<Self, MetricsError> {
        let registry = metrics::registry();
        Ok(Self {
            claims: metrics::counter(&registry, "kitchen_pump_claims_total", "Commands claimed.")?,
            started: metrics::counter(
                &registry,
                "kitchen_pump_workflows_started_total",
                "Workflows started.",
            )?,
            already_started: metrics::counter(
                &registry,
                "kitchen_pump_already_started_total",
                "Starts answered already-started.",
            )?,
            start_failures: metrics::counter(
                &registry,
                "kitchen_pump_start_failures_total",
                "Starts that failed or timed out and were backed off.",
            )?,
            held_at_cap: metrics::counter(
                &registry,
                "kitchen_pump_claims_at_in_flight_cap_total",
                "Claims refused because the tenant had max_in_flight_per_tenant commands in flight.",
            )?,
            claim_to_start: metrics::latency(
                &registry,
                "kitchen_pump_claim_to_start_seconds",
                "From a command's claim to Temporal's answer to its workflow start.",
            )?,
            registry,
        })
    }

    pub(crate) fn observe_start(&self, newly_started: bool, since_claim: Duration) {
        if newly_started {
            self.started.inc();
        } else {
            self.already_started.inc();
        }
        self.claim_to_start.observe(since_claim.as_secs_f64());
    }

    /// The registry to serve on `/metrics`.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}
