//! The bench's WebSocket client: connect to realtime, read frames cheaply.

use anyhow::{bail, Context};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What the bench needs of a server frame (the rest is skipped unparsed).
#[derive(Debug, Deserialize)]
pub struct Frame {
    #[serde(rename = "type")]
    pub kind: String,
    pub event: Option<EventHead>,
    pub seq: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventHead {
    pub aggregate_id: Uuid,
    pub seq: i64,
}

pub fn parse(text: &str) -> Option<Frame> {
    serde_json::from_str(text).ok()
}

/// Opens `/v1/stream?after=N` with the token in the query string.
pub async fn connect(ws_base: &str, token: &str, after: i64) -> anyhow::Result<Socket> {
    connect_url(&format!(
        "{ws_base}/v1/stream?after={after}&access_token={token}"
    ))
    .await
}

/// Opens a WebSocket at `url`.
pub async fn connect_url(url: &str) -> anyhow::Result<Socket> {
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .context("WebSocket upgrade")?;
    Ok(socket)
}

/// Reads until the `ready` frame; returns its seq and the events before it.
pub async fn until_ready(socket: &mut Socket) -> anyhow::Result<(i64, usize)> {
    let mut events = 0;
    while let Some(message) = socket.next().await {
        if let Message::Text(text) = message? {
            match parse(text.as_str()) {
                Some(Frame {
                    kind,
                    seq: Some(seq),
                    ..
                }) if kind == "ready" => return Ok((seq, events)),
                Some(Frame { event: Some(_), .. }) => events += 1,
                _ => {}
            }
        }
    }
    bail!("socket closed before ready")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_event_and_ready_frames() {
        let id = Uuid::new_v4();
        let text = format!(
            r#"{{"type":"event","event":{{"tenantId":"x","aggregateId":"{id}","seq":7,"payload":{{"seq":99}}}}}}"#
        );
        let frame = parse(&text).unwrap();
        let head = frame.event.unwrap();
        assert_eq!((head.aggregate_id, head.seq), (id, 7));
        let ready = parse(r#"{"type":"ready","seq":3}"#).unwrap();
        assert_eq!((ready.kind.as_str(), ready.seq), ("ready", Some(3)));
        assert!(parse("not json").is_none());
    }
}
