//! The raw limit of fan-out: the barest server that does realtime's job. It
//! LISTENs on `events` and, for each notification, sends one pre-built frame per
//! seq (padded to the size of realtime's frames) to every socket of the tenant
//! through a tokio broadcast channel, over tokio-tungstenite. No authentication,
//! no reads of the rows, no catch-up, no per-socket queue, no heartbeats: what
//! is left is LISTEN, WebSocket framing and the socket writes.
//!
//! It runs as a child process (`kitchen-bench --raw-fanout-server URL BYTES`),
//! so its RSS per idle socket is measured as realtime's is.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures_util::{SinkExt, StreamExt};
use kitchen_adapters::postgres::notify::parse_events_notification;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use uuid::Uuid;

/// The flag that makes `kitchen-bench` this server instead of the bench.
pub const FLAG: &str = "--raw-fanout-server";

/// Frames of one notification, shared by every socket of the tenant.
type Batch = Arc<Vec<Utf8Bytes>>;

/// Per tenant, the channel its sockets subscribe to.
type Rooms = Arc<Mutex<HashMap<Uuid, broadcast::Sender<Batch>>>>;

fn room(rooms: &Rooms, tenant: Uuid) -> broadcast::Sender<Batch> {
    rooms
        .lock()
        .expect("rooms lock")
        .entry(tenant)
        .or_insert_with(|| broadcast::channel(4096).0)
        .clone()
}

/// An event frame in realtime's shape (`{"type":"event","event":{...,"seq":N}}`)
/// padded with a payload to about `bytes` bytes.
pub fn frame(tenant: Uuid, seq: i64, bytes: usize) -> String {
    let head = format!(
        r#"{{"type":"event","event":{{"tenantId":"{tenant}","aggregateId":"{}","seq":{seq},"payload":{{"pad":""#,
        Uuid::nil()
    );
    let tail = r#""}}}"#;
    let pad = bytes.saturating_sub(head.len() + tail.len());
    format!("{head}{}{tail}", "x".repeat(pad))
}

/// The `tenant` query parameter of a request URI.
fn tenant_param(query: Option<&str>) -> Option<Uuid> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("tenant="))
        .and_then(|v| v.parse().ok())
}

/// The server's main: prints `listening PORT` once it accepts connections.
pub async fn serve(db_url: &str, frame_bytes: usize) -> anyhow::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let rooms: Rooms = Arc::default();
    let mut conn = AsyncPgConnection::establish(db_url)
        .await
        .context("raw fan-out server: connecting to PostgreSQL")?;
    conn.batch_execute("LISTEN events").await?;
    let notified = rooms.clone();
    tokio::spawn(async move {
        let mut notes = std::pin::pin!(conn.notifications_stream());
        while let Some(Ok(note)) = notes.next().await {
            let Ok(n) = parse_events_notification(&note.payload) else {
                continue;
            };
            let sender = notified
                .lock()
                .expect("rooms lock")
                .get(&n.tenant_id)
                .cloned();
            if let Some(sender) = sender {
                let batch: Vec<Utf8Bytes> = (n.first_seq..=n.last_seq)
                    .map(|seq| frame(n.tenant_id, seq, frame_bytes).into())
                    .collect();
                let _ = sender.send(Arc::new(batch));
            }
        }
    });
    println!("listening {}", listener.local_addr()?.port());
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(socket(stream, rooms.clone()));
    }
}

async fn socket(stream: TcpStream, rooms: Rooms) {
    let _ = stream.set_nodelay(true);
    let mut tenant = None;
    // Small buffers (tungstenite's defaults are 128 KiB each): an idle socket
    // costs what the connection itself needs, so the RSS rows compare fairly.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(8192);
    let accepted = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        #[allow(clippy::result_large_err)] // tungstenite's callback signature
        |req: &Request, resp: Response| {
            tenant = tenant_param(req.uri().query());
            Ok(resp)
        },
        Some(config),
    )
    .await;
    let Ok(mut ws) = accepted else {
        return;
    };
    let Some(tenant) = tenant else {
        let _ = ws.close(None).await;
        return;
    };
    let mut batches = room(&rooms, tenant).subscribe();
    if ws
        .send(Message::Text(r#"{"type":"ready","seq":0}"#.into()))
        .await
        .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            batch = batches.recv() => match batch {
                Ok(batch) => {
                    for text in batch.iter() {
                        if ws.feed(Message::Text(text.clone())).await.is_err() {
                            return;
                        }
                    }
                    if ws.flush().await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            message = ws.next() => match message {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// The server as a child process of the bench; killed when dropped.
#[derive(Debug)]
pub struct RawFanout {
    child: Child,
    port: u16,
}

impl RawFanout {
    pub fn start(db_url: &str, frame_bytes: usize) -> anyhow::Result<RawFanout> {
        let mut child = Command::new(std::env::current_exe()?)
            .args([FLAG, db_url, &frame_bytes.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the raw fan-out server")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let Some(port) = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
        else {
            let _ = child.kill();
            bail!("the raw fan-out server did not start: {line:?}");
        };
        Ok(RawFanout { child, port })
    }

    pub fn ws_base(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for RawFanout {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_as_events_of_the_asked_size() {
        let tenant = Uuid::new_v4();
        let text = frame(tenant, 42, 400);
        assert_eq!(text.len(), 400);
        let parsed = crate::ws::parse(&text).expect("valid JSON");
        assert_eq!(parsed.kind, "event");
        assert_eq!(parsed.event.map(|e| e.seq), Some(42));
        // A size below the frame's head still gives a valid frame.
        assert!(crate::ws::parse(&frame(tenant, 1, 0)).is_some());
    }

    #[test]
    fn the_tenant_comes_from_the_query() {
        let t = Uuid::new_v4();
        assert_eq!(
            tenant_param(Some(&format!("after=0&tenant={t}&x=1"))),
            Some(t)
        );
        assert_eq!(tenant_param(Some("after=0")), None);
        assert_eq!(tenant_param(Some("tenant=nope")), None);
        assert_eq!(tenant_param(None), None);
    }
}
