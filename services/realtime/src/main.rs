//! Thin composition root: settings, telemetry, then the realtime server.

use anyhow::Context;
use kitchen_adapters::config::Settings;
use kitchen_adapters::shutdown::Shutdown;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let shutdown = Shutdown::on_signals().context("installing signal handlers")?;
    let settings = Settings::load().context("loading settings")?;
    // Before anything listens or connects: never live with a public secret.
    kitchen_adapters::safe_defaults::refuse_development_secrets(
        &settings,
        kitchen_adapters::safe_defaults::ServiceSecrets {
            role: kitchen_adapters::config::DbRole::Realtime,
            verifies_tokens: true,
        },
    )?;
    kitchen_adapters::telemetry::init(&settings.log);
    let app = realtime::build(&settings, &shutdown).context("building realtime")?;
    tracing::info!(address = %app.address(), "realtime listening");
    app.run_until_stopped().await.context("running realtime")
}
