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
