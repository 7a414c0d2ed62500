//! Turns the LISTEN connection (which reconnects on its own) on `commands`
//! and `command_outcomes` into wake-ups for the pump. After every (re)connect
//! it asks for a sweep, so whatever was announced while it was away is still
//! found. Outcomes free room in flight for their tenant (`fair`).

use kitchen_adapters::postgres::listen::{self, HeardOn, ListenHealth};
use kitchen_adapters::postgres::notify::{
    parse_command_notification, parse_command_outcome_notification, COMMANDS_CHANNEL,
    COMMAND_OUTCOMES_CHANNEL,
};
use kitchen_adapters::shutdown::Shutdown;
use kitchen_domain::{CommandId, TenantId};
use secrecy::SecretString;
use tokio::sync::mpsc;

/// What the listener tells the pump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// A command was inserted.
    Command(TenantId, CommandId),
    /// A household command of this tenant became final.
    Final(TenantId),
    /// (Re)connected: sweep for anything missed.
    Sweep,
}

pub(crate) async fn run(
    url: SecretString,
    wakes: mpsc::Sender<Wake>,
    shutdown: Shutdown,
    health: ListenHealth,
) {
    let (heard_tx, mut heard) = mpsc::channel(1024);
    let listener = tokio::spawn(listen::run_channels(
        url,
        &[COMMANDS_CHANNEL, COMMAND_OUTCOMES_CHANNEL],
        heard_tx,
        shutdown,
        health,
    ));
    while let Some(item) = heard.recv().await {
        let wake = match item {
            HeardOn::Connected => Wake::Sweep,
            HeardOn::Payload { channel, payload } if channel == COMMAND_OUTCOMES_CHANNEL => {
                match parse_command_outcome_notification(&payload)
                    .ok()
                    .and_then(|n| TenantId::from_uuid(n.tenant_id).ok())
                {
                    Some(t) => Wake::Final(t),
                    None => {
                        tracing::warn!(%payload, "ignoring malformed outcome notification");
                        continue;
                    }
                }
            }
            HeardOn::Payload { payload, .. } => match parse_command_notification(&payload) {
                Ok(n) => match (TenantId::from_uuid(n.tenant_id), CommandId::from_uuid(n.id)) {
                    (Ok(t), Ok(c)) => Wake::Command(t, c),
                    _ => continue,
                },
                Err(e) => {
                    tracing::warn!(cause = %e, %payload, "ignoring malformed notification");
                    continue;
                }
            },
        };
        if wakes.send(wake).await.is_err() {
            break;
        }
    }
    let _ = listener.await;
}
