//! Thin composition root: settings, telemetry, Temporal client, then the pump.

use anyhow::Context;
use command_pump::Pump;
use kitchen_adapters::config::Settings;
use kitchen_temporal::TemporalScheduler;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load().context("loading settings")?;
    kitchen_adapters::telemetry::init(&settings.log);
    let client = kitchen_temporal::connect_with_retry(&settings.temporal, "kitchen-command-pump")
        .await
        .context("connecting to Temporal")?;
    let scheduler = TemporalScheduler::new(client, settings.temporal.task_queue.clone());
    let pump = Pump::new(&settings, scheduler)?;
    let stats = pump.stats();
    let (address, ops) = kitchen_adapters::ops_http::serve(
        &settings.pump.host,
        settings.pump.port,
        pump.pool().clone(),
        std::sync::Arc::new(move || stats.render()),
    )
    .context("binding the ops endpoints")?;
    let ops_handle = ops.handle();
    tokio::spawn(ops);
    tracing::info!(%address, "pump ops endpoints (/healthz, /readyz, /metrics)");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        kitchen_adapters::shutdown::signal().await;
        let _ = stop_tx.send(true);
    });
    tracing::info!(task_queue = %settings.temporal.task_queue, "command-pump running");
    pump.run(stop_rx).await;
    ops_handle.stop(true).await;
    Ok(())
}
