//! Thin composition root: settings, telemetry, Temporal client, then the pump.

use anyhow::Context;
use command_pump::Pump;
use kitchen_adapters::config::Settings;
use kitchen_adapters::edge::{Check, Readiness};
use kitchen_adapters::shutdown::Shutdown;
use kitchen_temporal::TemporalScheduler;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let shutdown = Shutdown::on_signals().context("installing signal handlers")?;
    let settings = Settings::load().context("loading settings")?;
    // Before anything listens or connects: never live with a public secret.
    kitchen_adapters::safe_defaults::refuse_development_secrets(
        &settings,
        kitchen_adapters::safe_defaults::ServiceSecrets {
            role: kitchen_adapters::config::DbRole::Pump,
            verifies_tokens: false,
        },
    )?;
    kitchen_adapters::telemetry::init(&settings.log);
    let client = tokio::select! {
        client = kitchen_temporal::connect_with_retry(&settings.temporal, "kitchen-command-pump") => {
            client.context("connecting to Temporal")?
        }
        () = shutdown.wait() => {
            tracing::info!("shut down before Temporal was reached");
            return Ok(());
        }
    };
    let temporal_ready = kitchen_temporal::readiness_check(&client);
    let scheduler = TemporalScheduler::new(client, settings.temporal.task_queue.clone());
    let pump = Pump::new(&settings, scheduler)?;
    let readiness = Readiness::new(vec![
        Check::postgres(pump.pool().clone()),
        temporal_ready,
        pump.listen_health().check(),
    ]);
    let ops = kitchen_adapters::ops_http::serve(
        &settings.pump.host,
        settings.pump.port,
        readiness,
        pump.metrics().registry().clone(),
        &shutdown,
    )
    .context("binding the ops endpoints")?;
    let address = ops.address();
    let ops = tokio::spawn(ops.run_until_stopped());
    tracing::info!(%address, "pump ops endpoints (/healthz, /readyz, /metrics)");
    tracing::info!(task_queue = %settings.temporal.task_queue, "command-pump running");
    pump.run(shutdown).await;
    ops.await
        .context("ops endpoints task")?
        .context("ops endpoints")?;
    Ok(())
}
