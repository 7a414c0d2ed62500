//! The gateway's series, in a registry of its own (see `kitchen_adapters::metrics`).

use std::time::Duration;

use kitchen_adapters::metrics::{self, MetricsError};
use prometheus::{Histogram, IntCounter, IntCounterVec, Registry};

#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    accepted: IntCounter,
    replayed: IntCounter,
    refused: IntCounterVec,
    latency: Histogram,
    logins: IntCounterVec,
    dummy_verifications: IntCounter,
}

impl Metrics {
    pub fn new() -> Result<Self, MetricsError> {
        let registry = metrics::registry();
        Ok(Self {
            accepted: metrics::counter(
                &registry,
                "kitchen_commands_accepted_total",
                "Commands accepted (202).",
            )?,
            replayed: metrics::counter(
                &registry,
                "kitchen_commands_replayed_total",
                "Idempotent retries answered with the stored command.",
            )?,
            refused: metrics::counter_vec(
                &registry,
                "kitchen_commands_refused_total",
                "Commands refused, by reason.",
                &["reason"],
            )?,
            latency: metrics::latency(
                &registry,
                "kitchen_command_request_seconds",
                "Latency of POST /v1/commands.",
            )?,
            logins: metrics::counter_vec(
                &registry,
                "kitchen_logins_total",
                "POST /v1/auth/token, by outcome (succeeded, failed, throttled).",
                &["outcome"],
            )?,
            dummy_verifications: metrics::counter(
                &registry,
                "kitchen_login_dummy_verifications_total",
                "Logins verified against the dummy hash (no such user, or a household that is not active).",
            )?,
            registry,
        })
    }

    pub fn accepted(&self) {
        self.accepted.inc();
    }

    /// An idempotent retry answered with the stored command.
    pub fn replayed(&self) {
        self.replayed.inc();
    }

    pub fn refused(&self, reason: &'static str) {
        self.refused.with_label_values(&[reason]).inc();
    }

    pub fn observe_latency(&self, elapsed: Duration) {
        self.latency.observe(elapsed.as_secs_f64());
    }

    pub fn login(&self, outcome: &'static str) {
        self.logins.with_label_values(&[outcome]).inc();
    }

    pub fn dummy_verification(&self) {
        self.dummy_verifications.inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        metrics::render(&self.registry)
    }
}
