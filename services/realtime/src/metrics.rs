//! Realtime's series, in a registry of its own (see `kitchen_adapters::metrics`),
//! served on its `/metrics`.

use kitchen_adapters::metrics::{self, MetricsError};
use prometheus::{Histogram, IntCounter, IntCounterVec, IntGauge, Registry};

#[derive(Debug, Clone)]
pub(crate) struct RealtimeMetrics {
    registry: Registry,
    /// Open sockets (upgraded and not yet ended).
    pub(crate) sockets: IntGauge,
    /// Tenant rooms held by the hub.
    pub(crate) rooms: IntGauge,
    /// Event frames written to sockets (catch-up and live).
    pub(crate) frames_sent: IntCounter,
    /// Command outcome frames written to sockets.
    pub(crate) outcome_frames_sent: IntCounter,
    /// Sockets answered with a `reset` frame and closed with 4009.
    pub(crate) resets: IntCounter,
    /// Sockets closed with 4008 (queue overflow or write timeout).
    pub(crate) slow_consumer_closes: IntCounter,
    /// LISTEN connections re-established after the first.
    pub(crate) listen_reconnects: IntCounter,
    /// From an event's commit (`created_at`) to its live frame's write.
    pub(crate) commit_to_send: Histogram,
    /// Upgrades refused by a quota, by code (`tenant_socket_limit`).
    pub(crate) refused: IntCounterVec,
}

impl RealtimeMetrics {
    pub(crate) fn new() -> Result<Self, MetricsError> {
        let registry = metrics::registry();
        Ok(Self {
            sockets: metrics::gauge(&registry, "kitchen_realtime_sockets", "Open sockets.")?,
            rooms: metrics::gauge(
                &registry,
                "kitchen_realtime_rooms",
                "Tenant rooms in the hub.",
            )?,
            frames_sent: metrics::counter(
                &registry,
                "kitchen_realtime_frames_sent_total",
                "Event frames written to sockets (catch-up and live).",
            )?,
            outcome_frames_sent: metrics::counter(
                &registry,
                "kitchen_realtime_outcome_frames_sent_total",
                "Command outcome frames written to sockets.",
            )?,
            resets: metrics::counter(
                &registry,
                "kitchen_realtime_resets_total",
                "Sockets whose after/epoch did not match the log: reset frame, close 4009.",
            )?,
            slow_consumer_closes: metrics::counter(
                &registry,
                "kitchen_realtime_slow_consumer_closes_total",
                "Sockets closed as too slow (4008).",
            )?,
            listen_reconnects: metrics::counter(
                &registry,
                "kitchen_realtime_listen_reconnects_total",
                "LISTEN connections re-established after a loss.",
            )?,
            commit_to_send: metrics::latency(
                &registry,
                "kitchen_realtime_commit_to_send_seconds",
                "From an event's commit to its live frame written to a socket.",
            )?,
            refused: metrics::counter_vec(
                &registry,
                "kitchen_realtime_refused_total",
                "Socket upgrades refused by a quota, by reason.",
                &["reason"],
            )?,
            registry,
        })
    }

    pub(crate) fn render(&self) -> String {
        metrics::render(&self.registry)
    }
}
