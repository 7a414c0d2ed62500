//! Live sockets of each tenant on realtime's `/v1/stream`, as a careful client
//! keeps them: the token in the `kitchen.v1` subprotocol (as browsers send
//! it), reconnecting with `after` = the last seq received (and the log's
//! epoch), re-hydrating from `/v1/snapshot` on a `reset` frame (close 4009).
//! Every frame is recorded raw; the audit judges them against the database.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::load::{Clients, Tenant};

/// One event frame as received.
#[derive(Debug, Clone)]
pub struct EventFrame {
    pub tenant: String,
    pub seq: i64,
    pub id: String,
}

/// Everything one socket saw, across its reconnects.
#[derive(Debug, Default)]
pub struct SocketLog {
    pub events: Vec<EventFrame>,
    /// The last seq of its own tenant received in order: where it resumes.
    pub last: i64,
    epoch: Option<String>,
    /// Seq ranges the client took from `/v1/snapshot` after a `reset`.
    pub hydrated: Vec<(i64, i64)>,
    pub connects: u64,
    pub resets: u64,
    /// Close codes received (1001 going away, 1011, 4008, ...), counted.
    pub closes: BTreeMap<u16, u64>,
    /// Connections cut without a close frame (the server killed).
    pub cuts: u64,
    pub outcomes: u64,
    /// Outcome frames naming a command another tenant's client sent.
    pub foreign_outcomes: u64,
}

/// A socket of `tenant`; its log is shared with the audit.
#[derive(Debug, Clone)]
pub struct Socket {
    pub tenant: usize,
    pub log: Arc<Mutex<SocketLog>>,
}

impl Socket {
    pub fn last(&self) -> i64 {
        self.log.lock().expect("socket log").last
    }
}

/// Opens a socket of `tenant` and keeps it open until `stop` turns true.
pub fn spawn(
    realtime: String,
    clients: Clients,
    tenant: Tenant,
    mut stop: watch::Receiver<bool>,
) -> (Socket, JoinHandle<()>) {
    let socket = Socket {
        tenant: tenant.index,
        log: Arc::default(),
    };
    let log = socket.log.clone();
    let task = tokio::spawn(async move {
        let mut failures = 0u32;
        while !*stop.borrow() {
            let (after, epoch) = {
                let log = log.lock().expect("socket log");
                (log.last, log.epoch.clone())
            };
            let mut url = format!("{realtime}/v1/stream?after={after}");
            if let Some(epoch) = epoch {
                url.push_str(&format!("&epoch={epoch}"));
            }
            let mut request = url.into_client_request().expect("a valid stream URL");
            request.headers_mut().insert(
                "sec-websocket-protocol",
                format!("kitchen.v1, {}", tenant.token)
                    .parse()
                    .expect("a token is ASCII"),
            );
            let mut ws = match tokio_tungstenite::connect_async(request).await {
                Ok((ws, _)) => ws,
                Err(_) => {
                    failures += 1;
                    let backoff = Duration::from_millis(100 * u64::from(failures.min(10)));
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => {}
                    }
                    continue;
                }
            };
            failures = 0;
            log.lock().expect("socket log").connects += 1;
            loop {
                let message = tokio::select! {
                    m = ws.next() => m,
                    _ = stop.changed() => break,
                };
                match message {
                    Some(Ok(Message::Text(text))) => {
                        let frame: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                        if frame["type"] == "reset" {
                            rehydrate(&clients, &tenant, &log).await;
                            break;
                        }
                        record(&clients, &tenant, &log, &frame);
                    }
                    Some(Ok(Message::Close(frame))) => {
                        let code = frame.map(|f| u16::from(f.code)).unwrap_or(1005);
                        *log.lock()
                            .expect("socket log")
                            .closes
                            .entry(code)
                            .or_default() += 1;
                        break;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => {
                        log.lock().expect("socket log").cuts += 1;
                        break;
                    }
                }
            }
        }
    });
    (socket, task)
}

fn record(clients: &Clients, tenant: &Tenant, log: &Mutex<SocketLog>, frame: &Value) {
    let mut log = log.lock().expect("socket log");
    match frame["type"].as_str() {
        Some("event") => {
            let event = &frame["event"];
            let received = EventFrame {
                tenant: event["tenantId"].as_str().unwrap_or_default().to_owned(),
                seq: event["seq"].as_i64().unwrap_or(-1),
                id: event["id"].as_str().unwrap_or_default().to_owned(),
            };
            if received.tenant == tenant.id.to_string() && received.seq == log.last + 1 {
                log.last = received.seq;
            }
            log.events.push(received);
        }
        Some("ready") => log.epoch = frame["epoch"].as_str().map(str::to_owned),
        Some("command") => {
            log.outcomes += 1;
            let sender = frame["commandId"]
                .as_str()
                .and_then(|id| id.parse::<Uuid>().ok())
                .and_then(|id| clients.owner(id));
            if sender.is_some_and(|s| s != tenant.index) {
                log.foreign_outcomes += 1;
            }
        }
        _ => {}
    }
}

/// After a `reset` frame: hydrate again from `/v1/snapshot` and resume at its
/// seq and epoch. The seqs the snapshot covered are recorded as hydrated
/// (they reach the client as state, not as frames).
async fn rehydrate(clients: &Clients, tenant: &Tenant, log: &Mutex<SocketLog>) {
    let snapshot = clients.get_json(tenant, "/v1/snapshot").await;
    let mut log = log.lock().expect("socket log");
    log.resets += 1;
    if let Some(seq) = snapshot.as_ref().and_then(|s| s["seq"].as_i64()) {
        if seq > log.last {
            let from = log.last + 1;
            log.hydrated.push((from, seq));
            log.last = seq;
        }
        log.epoch = snapshot
            .as_ref()
            .and_then(|s| s["epoch"].as_str())
            .map(str::to_owned);
    }
}
