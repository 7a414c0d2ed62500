//! A LISTEN connection that reconnects on its own. It reports `Connected` after
//! every (re)connect — callers then catch up from the tables, since anything
//! notified while it was away is lost — and each notification's payload.

use std::time::Duration;

use diesel_async::SimpleAsyncConnection;
use futures_util::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::mpsc;

use crate::shutdown::Shutdown;

/// What the listener reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// (Re)connected and listening: catch up from the tables.
    Connected,
    /// A notification's payload.
    Payload(String),
}

/// What a listener on several channels reports ([`run_channels`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeardOn {
    /// (Re)connected and listening on every channel: catch up from the tables.
    Connected,
    /// A notification: its channel and payload.
    Payload {
        channel: &'static str,
        payload: String,
    },
}

/// How a listener turns what it hears into its report type.
trait Report: Send + 'static {
    fn connected() -> Self;
    fn notified(channel: &'static str, payload: String) -> Self;
}

impl Report for Heard {
    fn connected() -> Self {
        Heard::Connected
    }
    fn notified(_: &'static str, payload: String) -> Self {
        Heard::Payload(payload)
    }
}

impl Report for HeardOn {
    fn connected() -> Self {
        HeardOn::Connected
    }
    fn notified(channel: &'static str, payload: String) -> Self {
        HeardOn::Payload { channel, payload }
    }
}

/// Whether the LISTEN connection is up (for readiness): false until the first
/// LISTEN succeeds and while it reconnects. Cheap to clone (shared flag).
#[derive(Debug, Clone, Default)]
pub struct ListenHealth(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl ListenHealth {
    fn set(&self, up: bool) {
        self.0.store(up, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn is_up(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The readiness check `listen`: down while the connection is.
    pub fn check(&self) -> crate::edge::Check {
        self.check_named("listen")
    }

    /// The same check under another name (a service with two connections).
    pub fn check_named(&self, name: &'static str) -> crate::edge::Check {
        let health = self.clone();
        crate::edge::Check::new(name, move || {
            let up = health.is_up();
            async move {
                if up {
                    Ok(())
                } else {
                    Err("the LISTEN connection is down (reconnecting)".into())
                }
            }
        })
    }
}

/// How often an idle connection is checked with a query, so a dead peer is
/// noticed even when no notification arrives.
const LIVENESS_CHECK: Duration = Duration::from_secs(5);

/// Listens on `channel` until `shutdown` fires, reconnecting with backoff.
pub async fn run(
    url: SecretString,
    channel: &'static str,
    heard: mpsc::Sender<Heard>,
    shutdown: Shutdown,
    health: ListenHealth,
) {
    run_on(url, &[channel], heard, shutdown, health).await
}

/// Listens on every one of `channels` on ONE connection until `shutdown`
/// fires, reconnecting with backoff. Notifications of one transaction arrive
/// in the order they were sent, whatever their channels.
pub async fn run_channels(
    url: SecretString,
    channels: &[&'static str],
    heard: mpsc::Sender<HeardOn>,
    shutdown: Shutdown,
    health: ListenHealth,
) {
    run_on(url, channels, heard, shutdown, health).await
}

async fn run_on<T: Report>(
    url: SecretString,
    channels: &[&'static str],
    heard: mpsc::Sender<T>,
    shutdown: Shutdown,
    health: ListenHealth,
) {
    let channel = channels.join(",");
    let mut backoff = Duration::from_millis(100);
    loop {
        if shutdown.is_triggered() {
            return;
        }
        // Connecting can hang on an unreachable server: shutdown wins over it.
        let attempt = tokio::select! {
            attempt = listen_once(&url, channels, &heard, &shutdown, &mut backoff, &health) => attempt,
            () = shutdown.wait() => return,
        };
        match attempt {
            Ok(()) => return,
            Err(e) => {
                health.set(false);
                tracing::warn!(cause = %e, channel = %channel, retry_in = ?backoff, "LISTEN connection lost; reconnecting");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    () = shutdown.wait() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
        if heard.is_closed() {
            return;
        }
    }
}

async fn listen_once<T: Report>(
    url: &SecretString,
    channels: &[&'static str],
    heard: &mpsc::Sender<T>,
    shutdown: &Shutdown,
    backoff: &mut Duration,
    health: &ListenHealth,
) -> Result<(), String> {
    let mut conn = super::tls::establish(url.expose_secret())
        .await
        .map_err(|e| e.to_string())?;
    let listen: String = channels.iter().map(|c| format!("LISTEN {c};")).collect();
    conn.batch_execute(&listen)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(channels = %channels.join(","), "listening");
    health.set(true);
    *backoff = Duration::from_millis(100);
    if heard.send(T::connected()).await.is_err() {
        return Ok(());
    }
    loop {
        let next = {
            let mut stream = std::pin::pin!(conn.notifications_stream());
            tokio::select! {
                next = stream.next() => Some(next),
                _ = tokio::time::sleep(LIVENESS_CHECK) => None,
                () = shutdown.wait() => return Ok(()),
            }
        };
        match next {
            Some(Some(Ok(note))) => {
                // Only channels we listen on are delivered to this connection.
                let channel = channels
                    .iter()
                    .copied()
                    .find(|c| *c == note.channel)
                    .unwrap_or(channels[0]);
                if heard
                    .send(T::notified(channel, note.payload))
                    .await
                    .is_err()
                {
                    return Ok(());
                }
            }
            Some(Some(Err(e))) => return Err(e.to_string()),
            Some(None) => return Err("notification stream ended".into()),
            None => conn
                .batch_execute("SELECT 1")
                .await
                .map_err(|e| e.to_string())?,
        }
    }
}
