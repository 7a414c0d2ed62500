//! Thin composition root: settings, telemetry, pool, then the worker.

use anyhow::Context;
use kitchen_adapters::config::{DbRole, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load().context("loading settings")?;
    kitchen_adapters::telemetry::init(&settings.log);
    let pool = kitchen_adapters::postgres::pool(
        &settings.database.role_url(DbRole::Worker),
        settings.database.pool_size,
    )?;
    worker::run(&settings, pool, kitchen_adapters::shutdown::signal()).await
}
