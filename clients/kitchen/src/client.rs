//! HTTP and WebSocket calls of the CLI.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::Out;

/// Talks to the gateway and to realtime with one token.
#[derive(Debug, Clone)]
pub struct Client {
    gateway: String,
    realtime: String,
    token: String,
    http: reqwest::Client,
}

/// One event, as the CLI prints it.
pub(crate) fn describe(event: &Value) -> String {
    format!(
        "event #{} {} v{} on {}: {}",
        event["seq"],
        event["type"].as_str().unwrap_or("?"),
        event["version"],
        event["aggregateId"].as_str().unwrap_or("?"),
        event["payload"]
    )
}

impl Client {
    pub fn new(gateway: String, realtime: String, token: String) -> Client {
        Client {
            gateway,
            realtime,
            token,
            http: reqwest::Client::new(),
        }
    }

    /// POSTs a command; returns the gateway's answer (202 or a problem).
    pub async fn send(&self, command_type: &str, payload: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}/v1/commands", self.gateway))
            .bearer_auth(&self.token)
            .json(&json!({"type": command_type, "payload": payload}))
            .send()
            .await
            .with_context(|| format!("cannot reach the gateway at {}", self.gateway))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!(
                "{} {}: {}",
                status.as_u16(),
                body["code"].as_str().unwrap_or(""),
                body["detail"].as_str().unwrap_or("")
            );
        }
        Ok(body)
    }

    /// Polls the command until it is final.
    pub async fn outcome(&self, command_id: &str, timeout: Duration) -> anyhow::Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let command: Value = self
                .http
                .get(format!("{}/v1/commands/{command_id}", self.gateway))
                .bearer_auth(&self.token)
                .send()
                .await?
                .json()
                .await?;
            if matches!(
                command["status"].as_str(),
                Some("succeeded" | "rejected" | "failed")
            ) {
                return Ok(command);
            }
            if Instant::now() > deadline {
                bail!(
                    "command {command_id} still {} after {timeout:?}",
                    command["status"]
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends, waits, and prints the outcome with its events.
    pub async fn send_and_report(
        &self,
        command_type: &str,
        payload: Value,
        out: &Out,
    ) -> anyhow::Result<Value> {
        let accepted = self.send(command_type, payload).await?;
        let id = accepted["commandId"]
            .as_str()
            .context("no commandId")?
            .to_owned();
        out.line(format!("sent {command_type} as command {id}"));
        let command = self.outcome(&id, Duration::from_secs(30)).await?;
        match command["status"].as_str() {
            Some("succeeded") => {
                out.line(format!("command {id} succeeded"));
                for seq in command["eventSeqs"].as_array().into_iter().flatten() {
                    let after = seq.as_i64().unwrap_or(1) - 1;
                    let page: Value = self
                        .http
                        .get(format!("{}/v1/events?after={after}&limit=1", self.gateway))
                        .bearer_auth(&self.token)
                        .send()
                        .await?
                        .json()
                        .await?;
                    for event in page["events"].as_array().into_iter().flatten() {
                        out.line(describe(event));
                    }
                }
            }
            _ => out.line(format!(
                "command {id} {}: {}",
                command["status"].as_str().unwrap_or("?"),
                command["rejection"]["reason"].as_str().unwrap_or("")
            )),
        }
        Ok(command)
    }

    /// Streams the tenant's events after `after` until the socket closes.
    pub async fn watch(&self, after: i64, out: Out) -> anyhow::Result<()> {
        let mut request =
            format!("{}/v1/stream?after={after}", self.realtime).into_client_request()?;
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {}", self.token).parse()?);
        let (mut ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .with_context(|| format!("cannot open the event stream at {}", self.realtime))?;
        while let Some(message) = ws.next().await {
            match message? {
                Message::Text(text) => {
                    let frame: Value = serde_json::from_str(&text)?;
                    match frame["type"].as_str() {
                        Some("event") => out.line(describe(&frame["event"])),
                        Some("ready") => out.line(format!(
                            "-- caught up at seq {}; live events follow",
                            frame["seq"]
                        )),
                        _ => out.line(&text),
                    }
                }
                Message::Close(frame) => {
                    out.line(format!(
                        "-- stream closed: {}",
                        frame
                            .map(|f| format!("{} {}", u16::from(f.code), f.reason))
                            .unwrap_or_default()
                    ));
                    break;
                }
                _ => {}
            }
        }
        Ok(())
    }
}
