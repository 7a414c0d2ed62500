//! The interactive prompt: asks for each payload field, sends, and keeps the
//! live event stream printing in the background.

use anyhow::Context;
use serde_json::{json, Value};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::cli::PROMPT_COMMANDS;
use crate::{Client, Out};

const HELP: &str = "commands: createOrder, updateOrderStatus, cancelOrder, help, exit";

struct Asker<R> {
    lines: tokio::io::Lines<R>,
    out: Out,
}

impl<R: AsyncBufRead + Unpin> Asker<R> {
    /// Asks `question`; an empty answer takes `default`. `None` at end of input.
    async fn ask(
        &mut self,
        question: &str,
        default: Option<&str>,
    ) -> anyhow::Result<Option<String>> {
        match default {
            Some(d) => self.out.line(format!("{question} [{d}]:")),
            None => self.out.line(format!("{question}:")),
        }
        let Some(answer) = self.lines.next_line().await? else {
            return Ok(None);
        };
        let answer = answer.trim().to_owned();
        Ok(Some(if answer.is_empty() {
            default.unwrap_or("").to_owned()
        } else {
            answer
        }))
    }
}

async fn payload_for<R: AsyncBufRead + Unpin>(
    command: &str,
    asker: &mut Asker<R>,
    last_order: &Option<String>,
) -> anyhow::Result<Option<Value>> {
    let new_id = uuid::Uuid::new_v4().to_string();
    macro_rules! ask {
        ($q:expr, $d:expr) => {
            match asker.ask($q, $d).await? {
                Some(a) => a,
                None => return Ok(None),
            }
        };
    }
    Ok(Some(match command {
        "createOrder" => {
            let order_id = ask!("orderId", Some(&new_id));
            let user_id = ask!("userId", Some("user-1"));
            let mut items = Vec::new();
            loop {
                let menu_item = ask!(
                    "menuItemId (empty to finish)",
                    if items.is_empty() {
                        Some("menu-item-1")
                    } else {
                        None
                    }
                );
                if menu_item.is_empty() {
                    break;
                }
                let quantity: i64 = ask!("quantity", Some("1"))
                    .parse()
                    .context("quantity must be a number")?;
                let notes = ask!("specialInstructions", Some(""));
                let mut item = json!({"menuItemId": menu_item, "quantity": quantity});
                if !notes.is_empty() {
                    item["specialInstructions"] = json!(notes);
                }
                items.push(item);
            }
            let mut payload = json!({"orderId": order_id, "userId": user_id, "items": items});
            let delay = ask!("scheduledFor, seconds from now (empty: now)", Some(""));
            if !delay.is_empty() {
                let secs: i64 = delay.parse().context("seconds must be a number")?;
                payload["scheduledFor"] = json!(now_plus(secs));
            }
            payload
        }
        "updateOrderStatus" => {
            let order_id = ask!("orderId", last_order.as_deref());
            let status = ask!(
                "status (confirmed, preparing, ready, delivered)",
                Some("confirmed")
            );
            json!({"orderId": order_id, "status": status})
        }
        "cancelOrder" => {
            let order_id = ask!("orderId", last_order.as_deref());
            let reason = ask!("reason", Some(""));
            let mut payload = json!({"orderId": order_id});
            if !reason.is_empty() {
                payload["reason"] = json!(reason);
            }
            payload
        }
        _ => unreachable!("checked by the caller"),
    }))
}

/// RFC 3339 in UTC, `secs` from now (a past time is now).
fn now_plus(secs: i64) -> String {
    (chrono::Utc::now() + chrono::TimeDelta::seconds(secs.max(0)))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The interactive session (see the crate docs).
pub(crate) async fn interactive(
    client: &Client,
    first: Option<String>,
    input: impl AsyncBufRead + Unpin,
    out: Out,
) -> anyhow::Result<()> {
    let watcher = {
        let (client, out) = (client.clone(), out.clone());
        tokio::spawn(async move {
            if let Err(e) = client.watch(0, out.clone()).await {
                out.line(format!("-- event stream unavailable: {e:#}"));
            }
        })
    };
    out.line(HELP);
    let mut asker = Asker {
        lines: input.lines(),
        out: out.clone(),
    };
    let mut pending = first;
    let mut last_order: Option<String> = None;
    loop {
        let command = match pending.take() {
            Some(c) => c,
            None => {
                out.line("kitchen>");
                match asker.lines.next_line().await? {
                    Some(line) => line.trim().to_owned(),
                    None => break,
                }
            }
        };
        match command.as_str() {
            "" => continue,
            "exit" | "quit" => break,
            "help" => out.line(HELP),
            c if PROMPT_COMMANDS.contains(&c) => {
                let Some(payload) = payload_for(&command, &mut asker, &last_order).await? else {
                    break;
                };
                if let Some(id) = payload["orderId"].as_str() {
                    last_order = Some(id.to_owned());
                }
                if let Err(e) = client.send_and_report(&command, payload, &out).await {
                    out.line(format!("error: {e:#}"));
                }
            }
            other => out.line(format!("unknown command {other:?}; {HELP}")),
        }
    }
    // Give live events of the last command a moment to print.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    watcher.abort();
    Ok(())
}
