//! A client socket on realtime's `GET /v1/stream`, as tests use it: opened
//! with a token, read frame by frame with a deadline.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// An open client socket.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a test waits for the next frame before it fails.
pub const FRAME_WAIT: Duration = Duration::from_secs(30);

/// Opens `{realtime}/v1/stream?after={after}` (`realtime` is `ws://host:port`)
/// with `token` in the `Authorization` header; panics if the upgrade fails.
pub async fn connect(realtime: &str, token: &str, after: i64) -> Ws {
    let mut request = format!("{realtime}/v1/stream?after={after}")
        .into_client_request()
        .expect("a valid stream URL");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("a token is ASCII"),
    );
    tokio_tungstenite::connect_async(request)
        .await
        .unwrap_or_else(|e| panic!("socket upgrade on {realtime}: {e}"))
        .0
}

/// The next JSON text frame, pings and pongs skipped. `Err` once the socket
/// closes: the close frame's code and reason, or `None` when it was cut.
/// Panics when nothing arrives within [`FRAME_WAIT`].
pub async fn next_frame(ws: &mut Ws) -> Result<Value, Option<(u16, String)>> {
    let deadline = tokio::time::Instant::now() + FRAME_WAIT;
    loop {
        let message = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("a text or close frame within FRAME_WAIT");
        match message {
            Some(Ok(Message::Text(text))) => {
                return Ok(serde_json::from_str(&text).expect("frames are JSON"))
            }
            Some(Ok(Message::Close(frame))) => {
                return Err(frame.map(|f| (u16::from(f.code), f.reason.to_string())))
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err(None),
        }
    }
}

/// A handshake request for `{realtime}/v1/stream?{query}` with `token` (when
/// given) in the `Authorization` header, for tests that add headers or expect
/// a refusal.
pub fn stream_request(
    realtime: &str,
    token: Option<&str>,
    query: &str,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let mut request = format!("{realtime}/v1/stream?{query}")
        .into_client_request()
        .expect("a valid stream URL");
    if let Some(token) = token {
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("a token is ASCII"),
        );
    }
    request
}

/// Opens a socket with `request`; panics if the upgrade is refused.
pub async fn connect_request(
    request: tokio_tungstenite::tungstenite::handshake::client::Request,
) -> Ws {
    tokio_tungstenite::connect_async(request)
        .await
        .unwrap_or_else(|e| panic!("socket upgrade: {e}"))
        .0
}

/// The upgrade's HTTP refusal: its status and problem+json `code` (empty when
/// the body has none). Panics when the upgrade succeeds or fails otherwise.
pub async fn refused(
    request: tokio_tungstenite::tungstenite::handshake::client::Request,
) -> (u16, String) {
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body: Value = response
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or_default();
            (
                response.status().as_u16(),
                body["code"].as_str().unwrap_or_default().to_owned(),
            )
        }
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
}

/// Reads frames until the socket closes; returns the frames and the close
/// (code and reason; `None` when the connection was cut without one).
pub async fn until_closed(ws: &mut Ws) -> (Vec<Value>, Option<(u16, String)>) {
    let mut frames = Vec::new();
    loop {
        match next_frame(ws).await {
            Ok(frame) => frames.push(frame),
            Err(close) => return (frames, close),
        }
    }
}
