//! The faults, one per phase, and how each is injected and undone.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::load::{self, Clients, OnShed, Tally, Tenant};
use crate::platform::{Platform, DATABASE};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// No fault: the load alone (the reference row).
    Baseline,
    /// SIGKILL of one service, down for a moment, then started again.
    Kill(&'static str),
    /// `pg_terminate_backend` of every session of the drill database.
    TerminateSessions,
    /// `pg_ctl restart -m immediate` of the drill cluster.
    PostgresRestart,
    /// SIGKILL of the Temporal dev server, then started on the same file.
    TemporalRestart,
    /// Tenant 0 sends far past its commands-per-second quota.
    TenantFlood,
    /// Every tenant bursts at its quota: more than the platform dispatches.
    OverloadBurst,
}

pub const ALL: [Fault; 10] = [
    Fault::Baseline,
    Fault::Kill("command-gateway"),
    Fault::Kill("command-pump"),
    Fault::Kill("worker"),
    Fault::Kill("realtime"),
    Fault::TerminateSessions,
    Fault::PostgresRestart,
    Fault::TemporalRestart,
    Fault::TenantFlood,
    Fault::OverloadBurst,
];

impl Fault {
    pub fn name(self) -> String {
        match self {
            Fault::Baseline => "baseline (no fault)".into(),
            Fault::Kill(service) => format!("kill -9 {service}"),
            Fault::TerminateSessions => "pg_terminate_backend (all)".into(),
            Fault::PostgresRestart => "PostgreSQL restart (immediate)".into(),
            Fault::TemporalRestart => "Temporal kill -9 + restart".into(),
            Fault::TenantFlood => "tenant flood past its quota".into(),
            Fault::OverloadBurst => "overload burst".into(),
        }
    }

    /// The short name `--only` takes.
    pub fn key(self) -> &'static str {
        match self {
            Fault::Baseline => "baseline",
            Fault::Kill("command-gateway") => "kill-gateway",
            Fault::Kill("command-pump") => "kill-pump",
            Fault::Kill("worker") => "kill-worker",
            Fault::Kill(_) => "kill-realtime",
            Fault::TerminateSessions => "pg-terminate",
            Fault::PostgresRestart => "pg-restart",
            Fault::TemporalRestart => "temporal-restart",
            Fault::TenantFlood => "tenant-flood",
            Fault::OverloadBurst => "overload-burst",
        }
    }
}

/// How hard the shedding faults push.
#[derive(Debug, Clone, Copy)]
pub struct Pressure {
    /// How long a killed process stays down.
    pub down: Duration,
    /// How long a flood or burst lasts.
    pub burst: Duration,
    /// The flooding tenant's rate, and each tenant's in a burst (commands/s).
    pub flood_rate: f64,
    pub burst_rate: f64,
}

/// Injects `fault` and undoes it (restart); a flood or a burst runs for its
/// whole length. Returns what the operator should know (e.g. sessions killed).
pub async fn inject(
    fault: Fault,
    platform: &mut Platform,
    clients: &Clients,
    tally: &Arc<Tally>,
    tenants: &[Tenant],
    pressure: Pressure,
) -> anyhow::Result<String> {
    match fault {
        Fault::Baseline => Ok(String::new()),
        Fault::Kill(name) => {
            platform.service(name).kill()?;
            tokio::time::sleep(pressure.down).await;
            platform.service(name).restart().await?;
            Ok(format!("{name} down {:?}", pressure.down))
        }
        Fault::TerminateSessions => {
            let n = platform.cluster.terminate_sessions(DATABASE).await?;
            Ok(format!("{n} sessions terminated"))
        }
        Fault::PostgresRestart => {
            let began = std::time::Instant::now();
            tokio::task::block_in_place(|| platform.cluster.restart_immediate())?;
            Ok(format!("restarted in {:?}", began.elapsed()))
        }
        Fault::TemporalRestart => {
            tokio::task::block_in_place(|| platform.temporal.kill())?;
            tokio::time::sleep(pressure.down).await;
            tokio::task::block_in_place(|| platform.temporal.restart())?;
            Ok(format!("Temporal down {:?} plus its start", pressure.down))
        }
        Fault::TenantFlood => {
            let noisy = &tenants[..1];
            shed_burst(clients, tally, noisy, pressure.flood_rate, pressure.burst).await;
            Ok(format!("tenant 0 at {} commands/s", pressure.flood_rate))
        }
        Fault::OverloadBurst => {
            shed_burst(clients, tally, tenants, pressure.burst_rate, pressure.burst).await;
            Ok(format!(
                "{} tenants at {} commands/s each",
                tenants.len(),
                pressure.burst_rate
            ))
        }
    }
}

/// `tenants` send at `rate` each for `length`, taking 429s and 503s as final.
async fn shed_burst(
    clients: &Clients,
    tally: &Arc<Tally>,
    tenants: &[Tenant],
    rate: f64,
    length: Duration,
) {
    let (stop, stopped) = watch::channel(false);
    let concurrency = ((rate / 5.0).ceil() as usize).clamp(2, 32);
    let tasks: Vec<_> = tenants
        .iter()
        .flat_map(|t| {
            load::spawn_clients(
                clients,
                tally,
                t,
                rate,
                concurrency,
                OnShed::GiveUp,
                &stopped,
            )
        })
        .collect();
    tokio::time::sleep(length).await;
    let _ = stop.send(true);
    for task in tasks {
        let _ = task.await;
    }
}
