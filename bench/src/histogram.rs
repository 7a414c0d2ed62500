//! A lock-free latency histogram: many socket tasks record at once.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::stats::Percentiles;

/// 10 µs buckets up to 1 s; later samples land in the last bucket.
const BUCKET_NANOS: u64 = 10_000;
const BUCKETS: usize = 100_000;

#[derive(Debug)]
pub struct Histogram {
    buckets: Vec<AtomicU64>,
    max_nanos: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max_nanos: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn record(&self, nanos: u64) {
        let bucket = ((nanos / BUCKET_NANOS) as usize).min(BUCKETS - 1);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.max_nanos.fetch_max(nanos, Ordering::Relaxed);
    }

    /// Percentiles, each the upper edge of its bucket (conservative by < 10 µs).
    pub fn percentiles(&self) -> Option<Percentiles> {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let at = |q: f64| {
            let rank = ((total as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return ((i as u64 + 1) * BUCKET_NANOS) as f64 / 1e6;
                }
            }
            f64::NAN
        };
        Some(Percentiles {
            count: total as usize,
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: self.max_nanos.load(Ordering::Relaxed) as f64 / 1e6,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_bucket_upper_edges() {
        let h = Histogram::default();
        assert!(h.percentiles().is_none());
        for micros in 1..=100u64 {
            h.record(micros * 100_000 / 100 * 10); // 10 µs .. 1 ms
        }
        let p = h.percentiles().unwrap();
        assert_eq!(p.count, 100);
        assert!((p.p50_ms - 0.51).abs() < 1e-9, "{}", p.p50_ms);
        assert!((p.p99_ms - 1.0).abs() < 0.011, "{}", p.p99_ms);
        assert!((p.max_ms - 1.0).abs() < 1e-9);
        h.record(5_000_000_000);
        assert!((h.percentiles().unwrap().max_ms - 5000.0).abs() < 1e-9);
    }
}
