//! Turns the `commands` LISTEN connection (which reconnects on its own) into
//! wake-ups for the pump. After every (re)connect it asks for a sweep, so
//! whatever was announced while it was away is still found.

use kitchen_adapters::postgres::listen::{self, Heard, ListenHealth};
use kitchen_adapters::postgres::notify::{parse_command_notification, COMMANDS_CHANNEL};
use kitchen_adapters::shutdown::Shutdown;
use kitchen_domain::{CommandId, TenantId};
use secrecy::SecretString;
use tokio::sync::mpsc;

/// What the listener tells the pump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// A command was inserted.
    Command(TenantId, CommandId),
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
    let listener = tokio::spawn(listen::run(
        url,
        COMMANDS_CHANNEL,
        heard_tx,
        shutdown,
        health,
    ));
    while let Some(item) = heard.recv().await {
        let wake = match item {
            Heard::Connected => Wake::Sweep,
            Heard::Payload(payload) => match parse_command_notification(&payload) {
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
