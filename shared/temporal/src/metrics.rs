//! The worker's series (see `kitchen_adapters::metrics`): what the activities
//! reached and how long they took, and the version conflicts the unit of work
//! retried. Registered into the registry the worker serves on `/metrics`.

use std::time::Instant;

use kitchen_adapters::metrics::{self, MetricsError};
use kitchen_domain::queue::CommandOutcome;
use prometheus::{HistogramVec, IntCounter, IntCounterVec, Registry};

#[derive(Debug, Clone)]
pub struct WorkerMetrics {
    /// `run_command` results by `outcome` (succeeded, rejected, failed). A
    /// retried activity that finds the command final counts its stored outcome again.
    pub commands: IntCounterVec,
    /// Activity durations by `activity` and `result` (ok, error).
    pub activity_seconds: HistogramVec,
    /// Version conflicts retried inside the unit of work.
    pub conflicts_retried: IntCounter,
}

impl WorkerMetrics {
    pub fn register(registry: &Registry) -> Result<Self, MetricsError> {
        Ok(Self {
            commands: metrics::counter_vec(
                registry,
                "kitchen_worker_commands_total",
                "Commands run to an outcome, by outcome.",
                &["outcome"],
            )?,
            activity_seconds: metrics::latency_vec(
                registry,
                "kitchen_worker_activity_seconds",
                "Duration of one activity attempt, by activity and result.",
                &["activity", "result"],
            )?,
            conflicts_retried: metrics::counter(
                registry,
                "kitchen_worker_conflicts_retried_total",
                "Version conflicts retried in a new transaction.",
            )?,
        })
    }

    /// Records one attempt of `activity` that began at `began`.
    pub(crate) fn attempt<T, E>(&self, activity: &str, began: Instant, result: &Result<T, E>) {
        let label = if result.is_ok() { "ok" } else { "error" };
        self.activity_seconds
            .with_label_values(&[activity, label])
            .observe(began.elapsed().as_secs_f64());
    }

    pub(crate) fn outcome(&self, outcome: &CommandOutcome) {
        let label = match outcome {
            CommandOutcome::Succeeded { .. } => "succeeded",
            CommandOutcome::Rejected { .. } => "rejected",
            CommandOutcome::Failed { .. } => "failed",
        };
        self.commands.with_label_values(&[label]).inc();
    }
}
