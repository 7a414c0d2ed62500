//! The gateway's tests, one binary (one link; the SIGTERM test runs beside the
//! others, so it also proves a drain under load).

mod api;
mod browser;
mod hostile;
mod hydration;
mod login;
mod quotas;
mod schemathesis;
mod shutdown;
mod views;

use kitchen_adapters::config::Settings;
use kitchen_adapters::shutdown::Shutdown;

/// Starts an in-process gateway on a free port; returns its `http://` base URL.
fn start_gateway(settings: &Settings) -> String {
    let gateway = command_gateway::build(settings, &Shutdown::new()).expect("gateway builds");
    format!("http://{}", gateway.spawn())
}
