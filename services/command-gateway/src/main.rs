//! Thin composition root: settings, telemetry, then the application.

use anyhow::Context;
use command_gateway::Application;
use kitchen_adapters::config::Settings;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load().context("loading settings")?;
    kitchen_adapters::telemetry::init(&settings.log);
    let app = Application::build(&settings).context("building the gateway")?;
    tracing::info!(address = %app.address(), "command-gateway listening");
    app.run_until_stopped().await.context("running the gateway")
}
