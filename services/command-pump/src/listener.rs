//! The LISTEN side: one connection listening on `commands`, reconnecting on its
//! own. Notifications are hints; after every (re)connect it asks for a sweep, so
//! whatever was announced while it was away is still found.

use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures_util::StreamExt;
use kitchen_adapters::postgres::notify::{parse_command_notification, COMMANDS_CHANNEL};
use kitchen_domain::{CommandId, TenantId};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{mpsc, watch};

/// What the listener tells the pump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// A command was inserted.
    Command(TenantId, CommandId),
    /// (Re)connected: sweep for anything missed.
    Sweep,
}

/// How often an idle LISTEN connection is checked with a query: a dead TCP
/// peer is noticed within this time even if no notification arrives.
const LIVENESS_CHECK: Duration = Duration::from_secs(5);

pub(crate) async fn run(
    url: SecretString,
    wakes: mpsc::Sender<Wake>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if *shutdown.borrow() {
            return;
        }
        match listen_once(&url, &wakes, &mut shutdown).await {
            Ok(()) => return, // shutdown
            Err(e) => {
                tracing::warn!(cause = %e, retry_in = ?backoff, "LISTEN connection lost; reconnecting");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn listen_once(
    url: &SecretString,
    wakes: &mpsc::Sender<Wake>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), String> {
    let mut conn = AsyncPgConnection::establish(url.expose_secret())
        .await
        .map_err(|e| e.to_string())?;
    conn.batch_execute(&format!("LISTEN {COMMANDS_CHANNEL}"))
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!("listening on {COMMANDS_CHANNEL}");
    let _ = wakes.send(Wake::Sweep).await;
    loop {
        let next = {
            let mut stream = std::pin::pin!(conn.notifications_stream());
            tokio::select! {
                next = stream.next() => Some(next),
                _ = tokio::time::sleep(LIVENESS_CHECK) => None,
                _ = shutdown.changed() => return Ok(()),
            }
        };
        match next {
            Some(Some(Ok(note))) => match parse_command_notification(&note.payload) {
                Ok(n) => {
                    if let (Ok(t), Ok(c)) =
                        (TenantId::from_uuid(n.tenant_id), CommandId::from_uuid(n.id))
                    {
                        let _ = wakes.send(Wake::Command(t, c)).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(cause = %e, payload = %note.payload, "ignoring malformed notification")
                }
            },
            Some(Some(Err(e))) => return Err(e.to_string()),
            Some(None) => return Err("notification stream ended".into()),
            None => conn
                .batch_execute("SELECT 1")
                .await
                .map_err(|e| e.to_string())?,
        }
    }
}
