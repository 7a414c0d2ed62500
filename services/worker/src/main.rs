//! Thin composition root: settings, telemetry, pool, then the worker.

use anyhow::Context;
use kitchen_adapters::config::{DbRole, Settings};
use kitchen_adapters::edge::{Check, Readiness};
use kitchen_adapters::shutdown::Shutdown;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let shutdown = Shutdown::on_signals().context("installing signal handlers")?;
    let settings = Settings::load().context("loading settings")?;
    // Before anything listens or connects: never live with a public secret.
    kitchen_adapters::safe_defaults::refuse_development_secrets(
        &settings,
        kitchen_adapters::safe_defaults::ServiceSecrets {
            role: kitchen_adapters::config::DbRole::Worker,
            verifies_tokens: false,
        },
    )?;
    kitchen_adapters::telemetry::init(&settings.log);
    let pool = kitchen_adapters::postgres::pool(
        &settings.database.role_url(DbRole::Worker),
        settings.database.pool_size,
    )?;
    // Views of a changed projection version are rebuilt in the background
    // (one replica does it; see `rebuild_at_startup`).
    tokio::spawn(kitchen_adapters::postgres::views::rebuild_at_startup(
        settings.database.role_url(DbRole::Worker),
        pool.clone(),
        shutdown.clone(),
    ));
    // Readiness asks Temporal through a client of its own (the SDK's worker
    // keeps its connection to itself).
    let temporal = tokio::select! {
        client = kitchen_temporal::connect_with_retry(&settings.temporal, "kitchen-worker-ops") => {
            client.context("connecting to Temporal")?
        }
        () = shutdown.wait() => {
            tracing::info!("shut down before Temporal was reached");
            return Ok(());
        }
    };
    let readiness = Readiness::new(vec![
        Check::postgres(pool.clone()),
        kitchen_temporal::readiness_check(&temporal),
    ]);
    let registry = kitchen_adapters::metrics::registry();
    let address = kitchen_adapters::ops_http::serve(
        &settings.worker.host,
        settings.worker.port,
        readiness,
        registry.clone(),
        &shutdown,
    )
    .context("binding the ops endpoints")?
    .spawn();
    tracing::info!(%address, "worker ops endpoints (/healthz, /readyz, /metrics)");
    let result = worker::run(&settings, pool, &registry, shutdown.clone()).await;
    // Also when the worker failed on its own: the process ends either way.
    shutdown.trigger();
    result
}
