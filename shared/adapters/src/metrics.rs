//! Prometheus metrics, the same way in every service: each service keeps its
//! series in a [`Registry`] of its own (not the process-wide default, so tests
//! that run several services in one process never share a series), registers
//! them through these helpers and serves [`render`] on `/metrics`.
//!
//! The `prometheus` crate does the bookkeeping and the text encoding; the
//! helpers only fix the conventions (latency buckets, error type).

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// Upper bounds (seconds) of every latency histogram: 1 ms to 5 s.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Registering failed: a name is invalid or registered twice (a bug).
pub type MetricsError = prometheus::Error;

/// A fresh, empty registry for one service.
pub fn registry() -> Registry {
    Registry::new()
}

/// The registry's series in the Prometheus text exposition format (0.0.4).
pub fn render(registry: &Registry) -> String {
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&registry.gather(), &mut out) {
        tracing::warn!(cause = %e, "encoding metrics failed");
    }
    String::from_utf8(out).unwrap_or_default()
}

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

pub fn counter(registry: &Registry, name: &str, help: &str) -> Result<IntCounter, MetricsError> {
    let counter = IntCounter::new(name, help)?;
    registry.register(Box::new(counter.clone()))?;
    Ok(counter)
}

pub fn counter_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntCounterVec, MetricsError> {
    let counter = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(counter.clone()))?;
    Ok(counter)
}

pub fn gauge(registry: &Registry, name: &str, help: &str) -> Result<IntGauge, MetricsError> {
    let gauge = IntGauge::new(name, help)?;
    registry.register(Box::new(gauge.clone()))?;
    Ok(gauge)
}

/// A latency histogram in seconds, with [`LATENCY_BUCKETS`].
pub fn latency(registry: &Registry, name: &str, help: &str) -> Result<Histogram, MetricsError> {
    let histogram =
        Histogram::with_opts(HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()))?;
    registry.register(Box::new(histogram.clone()))?;
    Ok(histogram)
}

/// As [`latency`], with labels.
pub fn latency_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<HistogramVec, MetricsError> {
    let histogram = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
        labels,
    )?;
    registry.register(Box::new(histogram.clone()))?;
    Ok(histogram)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_series_render_as_prometheus_text() {
        let registry = registry();
        let c = counter(&registry, "kitchen_test_total", "A test counter.").unwrap();
        let v = counter_vec(&registry, "kitchen_test_by_total", "By label.", &["why"]).unwrap();
        let h = latency(&registry, "kitchen_test_seconds", "A test latency.").unwrap();
        c.inc();
        v.with_label_values(&["because"]).inc_by(2);
        h.observe(0.003);
        let text = render(&registry);
        assert!(
            text.contains("# TYPE kitchen_test_total counter\nkitchen_test_total 1\n"),
            "{text}"
        );
        assert!(
            text.contains("kitchen_test_by_total{why=\"because\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("kitchen_test_seconds_bucket{le=\"0.0025\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("kitchen_test_seconds_bucket{le=\"0.005\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("kitchen_test_seconds_count 1\n"), "{text}");
    }

    #[test]
    fn a_name_registered_twice_is_an_error() {
        let registry = registry();
        counter(&registry, "kitchen_twice_total", "Once.").unwrap();
        assert!(counter(&registry, "kitchen_twice_total", "Twice.").is_err());
    }
}
