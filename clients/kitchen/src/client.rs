//! HTTP and WebSocket calls of the CLI, in the types of the wire contract
//! (`kitchen-wire`), so a change of the API shows up here at compile time.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::StreamExt;
use kitchen_wire::{
    CommandAccepted, CommandStatus, CommandView, EventsPage, Problem, StreamFrame, SubmitCommand,
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::shown::Shown;
use crate::Out;

/// Talks to the gateway and to realtime with one token.
#[derive(Debug, Clone)]
pub struct Client {
    gateway: String,
    realtime: String,
    token: String,
    http: reqwest::Client,
    /// Which events were printed (shared by clones: the prompt's stream and its reports).
    shown: Shown,
}

/// The body of a successful answer, or the problem+json of a failed one as the error.
async fn answer<T: DeserializeOwned>(response: reqwest::Response) -> anyhow::Result<T> {
    let status = response.status();
    let body = response.bytes().await.context("reading the answer")?;
    if !status.is_success() {
        match serde_json::from_slice::<Problem>(&body) {
            Ok(p) => bail!(
                "{} {}: {}{}",
                p.status,
                p.code,
                p.detail,
                p.field.map(|f| format!(" ({f})")).unwrap_or_default()
            ),
            Err(_) => bail!("{status}: {}", String::from_utf8_lossy(&body)),
        }
    }
    serde_json::from_slice(&body).context("an answer outside the API's contract")
}

impl Client {
    pub fn new(gateway: String, realtime: String, token: String) -> Client {
        Client {
            gateway,
            realtime,
            token,
            http: reqwest::Client::new(),
            shown: Shown::default(),
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let response = self
            .http
            .get(format!("{}{path}", self.gateway))
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("cannot reach the gateway at {}", self.gateway))?;
        answer(response).await
    }

    /// POSTs a command; returns the gateway's acceptance (or its problem as the error).
    pub async fn send(
        &self,
        command_type: &str,
        payload: Value,
    ) -> anyhow::Result<CommandAccepted> {
        let command = SubmitCommand {
            id: None,
            command_type: command_type.to_owned(),
            payload,
            correlation_id: None,
            metadata: None,
        };
        let response = self
            .http
            .post(format!("{}/v1/commands", self.gateway))
            .bearer_auth(&self.token)
            .json(&command)
            .send()
            .await
            .with_context(|| format!("cannot reach the gateway at {}", self.gateway))?;
        answer(response).await
    }

    /// Polls the command until it is final.
    pub async fn outcome(
        &self,
        command_id: Uuid,
        timeout: Duration,
    ) -> anyhow::Result<CommandView> {
        let deadline = Instant::now() + timeout;
        loop {
            let command: CommandView = self.get(&format!("/v1/commands/{command_id}")).await?;
            if command.status.is_final() {
                return Ok(command);
            }
            if Instant::now() > deadline {
                bail!(
                    "command {command_id} still {} after {timeout:?}",
                    command.status
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends, waits, and prints the outcome with its events (each event once,
    /// also when the live stream printed it already).
    pub async fn send_and_report(
        &self,
        command_type: &str,
        payload: Value,
        out: &Out,
    ) -> anyhow::Result<CommandView> {
        let id = self.send(command_type, payload).await?.command_id;
        out.line(format!("sent {command_type} as command {id}"));
        let command = self.outcome(id, Duration::from_secs(30)).await?;
        if command.status == CommandStatus::Succeeded {
            out.line(format!("command {id} succeeded"));
            for seq in &command.event_seqs {
                let page: EventsPage = self
                    .get(&format!("/v1/events?after={}&limit=1", seq - 1))
                    .await?;
                for event in &page.events {
                    self.shown.reported(event, out);
                }
            }
        } else {
            out.line(format!(
                "command {id} {}: {}",
                command.status,
                command.rejection.as_ref().map_or("", |r| r.reason.as_str())
            ));
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
                Message::Text(text) => match serde_json::from_str::<StreamFrame>(&text) {
                    Ok(StreamFrame::Event { event }) => self.shown.streamed(&event, &out),
                    Ok(StreamFrame::Ready { seq, .. }) => {
                        out.line(format!("-- caught up at seq {seq}; live events follow"))
                    }
                    Ok(StreamFrame::Command {
                        command_id,
                        status,
                        rejection,
                        ..
                    }) => out.line(format!(
                        "-- command {command_id} {status}{}",
                        rejection.map_or(String::new(), |r| format!(": {}", r.reason))
                    )),
                    Ok(StreamFrame::Reset { head, .. }) => out.line(format!(
                        "-- the log's head is {head}: this client's place is not in it; watch again with --after 0"
                    )),
                    // A frame this CLI does not know yet: show it as it came.
                    Err(_) => out.line(&text),
                },
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
