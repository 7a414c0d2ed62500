//! Load shapes shared by every latency/throughput row, so ours and the raw
//! limit are driven the same way: one at a time, a closed loop of N clients,
//! and an open loop at a fixed arrival rate.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::stats::Percentiles;

/// One operation (a command, a workflow, an insert): resolves to its latency.
/// The argument is the operation's index, for spreading over tenants.
pub type Op = Arc<
    dyn Fn(u64) -> Pin<Box<dyn Future<Output = anyhow::Result<Duration>> + Send>> + Send + Sync,
>;

/// What a run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub completed: u64,
    pub failed: u64,
    pub elapsed: Duration,
    pub latency: Option<Percentiles>,
    /// The first failure, to say why.
    pub first_error: Option<String>,
}

impl Outcome {
    pub fn per_sec(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Runs of the same load taken in parts, as one: counts and time add up
    /// (latency percentiles cannot be merged and are left out).
    pub fn combined(parts: &[Outcome]) -> Outcome {
        Outcome {
            completed: parts.iter().map(|p| p.completed).sum(),
            failed: parts.iter().map(|p| p.failed).sum(),
            elapsed: parts.iter().map(|p| p.elapsed).sum(),
            latency: None,
            first_error: parts.iter().find_map(|p| p.first_error.clone()),
        }
    }

    fn from(
        samples: &mut [Duration],
        failed: u64,
        elapsed: Duration,
        first_error: Option<String>,
    ) -> Outcome {
        Outcome {
            completed: samples.len() as u64,
            failed,
            elapsed,
            latency: Percentiles::of(samples),
            first_error,
        }
    }
}

/// An error naming `what` if any operation of `outcome` failed.
pub fn check(what: &str, outcome: &Outcome) -> anyhow::Result<()> {
    if outcome.failed > 0 {
        bail!(
            "{what}: {} of {} failed: {:?}",
            outcome.failed,
            outcome.failed + outcome.completed,
            outcome.first_error
        );
    }
    Ok(())
}

/// `n` operations, each started when the previous one finished.
pub async fn one_at_a_time(op: &Op, n: u64) -> Outcome {
    let started = Instant::now();
    let mut samples = Vec::with_capacity(n as usize);
    let (mut failed, mut first_error) = (0, None);
    for i in 0..n {
        match op(i).await {
            Ok(d) => samples.push(d),
            Err(e) => {
                failed += 1;
                first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    Outcome::from(&mut samples, failed, started.elapsed(), first_error)
}

/// `clients` loops, each starting its next operation when the last finished,
/// for `warmup + duration`. Only operations that finish inside the last
/// `duration` count (the warm-up fills the pipeline first); operations still
/// running at the end are awaited but not counted.
pub async fn closed_loop(op: &Op, clients: u64, warmup: Duration, duration: Duration) -> Outcome {
    let window = Instant::now() + warmup;
    let deadline = window + duration;
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for client in 0..clients {
        let op = op.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let (mut failed, mut first_error) = (0u64, None);
            let mut i = client;
            while Instant::now() < deadline {
                let result = op(i).await;
                let now = Instant::now();
                if now > deadline {
                    break;
                }
                if now < window {
                    i = (next.fetch_add(1, Ordering::Relaxed) + 1) * clients + client;
                    continue;
                }
                match result {
                    Ok(d) => samples.push(d),
                    Err(e) => {
                        failed += 1;
                        first_error.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
                // Unique across clients, and i % clients == client (a client keeps its tenant).
                i = (next.fetch_add(1, Ordering::Relaxed) + 1) * clients + client;
            }
            (samples, failed, first_error)
        }));
    }
    let mut samples = Vec::new();
    let (mut failed, mut first_error) = (0, None);
    for task in tasks {
        if let Ok((s, f, e)) = task.await {
            samples.extend(s);
            failed += f;
            first_error = first_error.or(e);
        }
    }
    Outcome::from(&mut samples, failed, duration, first_error)
}

/// Operations started at `rate` per second for `duration`, whether or not the
/// earlier ones finished (an open loop: queueing shows up as latency).
pub async fn open_loop(op: &Op, rate: f64, duration: Duration) -> Outcome {
    let started = Instant::now();
    let count = (rate * duration.as_secs_f64()).round().max(1.0) as u64;
    let interval = Duration::from_secs_f64(1.0 / rate.max(1e-3));
    let mut tasks = Vec::with_capacity(count as usize);
    for i in 0..count {
        tokio::time::sleep_until((started + interval * i as u32).into()).await;
        tasks.push(tokio::spawn(op(i)));
    }
    let mut samples = Vec::with_capacity(count as usize);
    let (mut failed, mut first_error) = (0, None);
    for task in tasks {
        match task.await {
            Ok(Ok(d)) => samples.push(d),
            Ok(Err(e)) => {
                failed += 1;
                first_error.get_or_insert_with(|| format!("{e:#}"));
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    Outcome::from(&mut samples, failed, started.elapsed(), first_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sleeper(ms: u64) -> Op {
        Arc::new(move |i| {
            Box::pin(async move {
                if i == 3 {
                    anyhow::bail!("op 3 fails");
                }
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(Duration::from_millis(ms))
            })
        })
    }

    #[tokio::test]
    async fn parts_combine_into_one_rate() {
        let a = one_at_a_time(&sleeper(1), 5).await; // 4 completed, 1 failed
        let b = one_at_a_time(&sleeper(1), 2).await; // 2 completed
        let all = Outcome::combined(&[a.clone(), b.clone()]);
        assert_eq!((all.completed, all.failed), (6, 1));
        assert_eq!(all.elapsed, a.elapsed + b.elapsed);
        assert!((all.per_sec() - 6.0 / (a.elapsed + b.elapsed).as_secs_f64()).abs() < 1e-9);
        assert_eq!(all.first_error.as_deref(), Some("op 3 fails"));
        assert!(all.latency.is_none());
    }

    #[tokio::test]
    async fn one_at_a_time_counts_failures_apart() {
        let out = one_at_a_time(&sleeper(1), 5).await;
        assert_eq!((out.completed, out.failed), (4, 1));
        assert_eq!(out.first_error.as_deref(), Some("op 3 fails"));
    }

    #[tokio::test]
    async fn closed_loop_rate_is_bounded_by_clients_and_latency() {
        let out = closed_loop(
            &sleeper(10),
            4,
            Duration::from_millis(50),
            Duration::from_millis(300),
        )
        .await;
        // 4 clients x ~30 ops of 10 ms; timer slack only lowers it.
        assert!(out.per_sec() <= 4.0 * 100.0 + 1.0, "{}", out.per_sec());
        assert!(out.per_sec() >= 100.0, "{}", out.per_sec());
    }

    #[tokio::test]
    async fn open_loop_starts_the_requested_number() {
        let out = open_loop(&sleeper(5), 100.0, Duration::from_millis(200)).await;
        assert_eq!(out.completed + out.failed, 20);
        assert_eq!(out.failed, 1);
    }
}
