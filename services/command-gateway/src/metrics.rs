//! The gateway's series, in a registry of its own (see `kitchen_adapters::metrics`).

use std::time::Duration;

use kitchen_adapters::metrics::{self, MetricsError};
use prometheus::{Histogram, IntCounter, IntCounterVec, IntGauge, Registry};

use crate::admission::overload::{Reading, Shed};

#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    accepted: IntCounter,
    replayed: IntCounter,
    refused: IntCounterVec,
    refusals_held: IntCounter,
    latency: Histogram,
    logins: IntCounterVec,
    dummy_verifications: IntCounter,
    shed: IntCounterVec,
    load_open: IntGauge,
    load_oldest_due_ms: IntGauge,
    load_heartbeat_age_ms: IntGauge,
    load_head_wait_ms: IntGauge,
    load_in_flight: IntGauge,
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
            refusals_held: metrics::counter(
                &registry,
                "kitchen_commands_refusals_held_total",
                "Tenant-quota refusals (429) held quotas.refusal_hold_ms before they were answered.",
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
            shed: metrics::counter_vec(
                &registry,
                "kitchen_commands_shed_total",
                "Commands refused with 503 overloaded, by the rule that held (open_commands, in_flight, head_wait, dispatch_lag).",
                &["rule"],
            )?,
            load_open: metrics::gauge(
                &registry,
                "kitchen_load_open_commands",
                "Open commands of all tenants at the last load reading (counted up to overload.max_open_commands + 1).",
            )?,
            load_oldest_due_ms: metrics::gauge(
                &registry,
                "kitchen_load_oldest_due_milliseconds",
                "How long the oldest command due for dispatch had waited at the last load reading (0: none waits).",
            )?,
            load_heartbeat_age_ms: metrics::gauge(
                &registry,
                "kitchen_load_pump_heartbeat_age_milliseconds",
                "Age of the freshest pump heartbeat at the last load reading (-1: no pump has ever beaten).",
            )?,
            load_head_wait_ms: metrics::gauge(
                &registry,
                "kitchen_load_head_wait_milliseconds",
                "Longest wait of a command first in its tenant's line for a pump start slot, as live pumps reported it at the last load reading.",
            )?,
            load_in_flight: metrics::gauge(
                &registry,
                "kitchen_load_in_flight_commands",
                "Commands of all tenants claimed or dispatched and not yet final at the last load reading (counted up to overload.max_in_flight_commands + 1).",
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

    /// A 429 held before it was answered.
    pub(crate) fn refusal_held(&self) {
        self.refusals_held.inc();
    }

    /// A command shed by the overload rule `shed` (also counted in `refused`).
    pub(crate) fn shed(&self, shed: Shed) {
        self.shed.with_label_values(&[shed.label()]).inc();
    }

    pub(crate) fn observe_load(&self, reading: &Reading) {
        self.load_open.set(reading.open_commands);
        self.load_oldest_due_ms
            .set(reading.oldest_due_ms.unwrap_or(0));
        self.load_heartbeat_age_ms
            .set(reading.heartbeat_age_ms.unwrap_or(-1));
        self.load_head_wait_ms
            .set(reading.head_wait_ms.unwrap_or(0));
        self.load_in_flight.set(reading.in_flight);
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
