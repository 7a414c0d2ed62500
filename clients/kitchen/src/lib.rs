//! The `kitchen` command-line client (seed 000's tool, in Rust).
//!
//! - `kitchen --tenant ID [--command TYPE]`: interactive; prints the tenant's
//!   events live while you type `createOrder`, `updateOrderStatus`,
//!   `cancelOrder`, `help` or `exit` (it asks for each payload field);
//! - `kitchen send --tenant ID TYPE 'JSON'`: sends one command, waits for its
//!   outcome, prints it and its events;
//! - `kitchen watch --tenant ID [--after N]`: prints events as JSON lines;
//! - `kitchen token --tenant ID`: prints a development token.
//!
//! Options: `--gateway URL` (default `http://127.0.0.1:<gateway.port>`),
//! `--realtime URL` (default `ws://127.0.0.1:<realtime.port>`), `--token JWT`
//! (or `KITCHEN_TOKEN`; otherwise a development token is minted with the
//! configured `auth.hs256_secret`).
#![forbid(unsafe_code)]

mod client;
mod prompt;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use kitchen_adapters::config::Settings;
use kitchen_domain::TenantId;
use tokio::io::AsyncBufRead;

pub use client::Client;

/// Where output goes: stdout for people, a buffer for tests. Lines are written
/// whole, so live events and prompts never interleave mid-line.
#[derive(Clone)]
pub struct Out(Arc<Mutex<Box<dyn std::io::Write + Send>>>);

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Out")
    }
}

impl Out {
    pub fn stdout() -> Out {
        Out(Arc::new(Mutex::new(Box::new(std::io::stdout()))))
    }

    pub fn new(writer: impl std::io::Write + Send + 'static) -> Out {
        Out(Arc::new(Mutex::new(Box::new(writer))))
    }

    pub fn line(&self, text: impl AsRef<str>) {
        let mut out = self.0.lock().expect("output lock");
        let _ = writeln!(out, "{}", text.as_ref());
        let _ = out.flush();
    }
}

const USAGE: &str = "usage:
  kitchen --tenant ID [--command createOrder|updateOrderStatus|cancelOrder]
  kitchen send --tenant ID TYPE 'JSON-PAYLOAD'
  kitchen watch --tenant ID [--after N]
  kitchen token --tenant ID
options: --gateway URL  --realtime URL  --token JWT (or KITCHEN_TOKEN)";

struct Args {
    positional: Vec<String>,
    flags: std::collections::HashMap<String, String>,
}

fn parse_args(args: Vec<String>) -> anyhow::Result<Args> {
    let mut positional = Vec::new();
    let mut flags = std::collections::HashMap::new();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        if let Some(name) = arg.strip_prefix("--") {
            let value = it
                .next()
                .with_context(|| format!("--{name} needs a value"))?;
            flags.insert(name.to_owned(), value);
        } else {
            positional.push(arg);
        }
    }
    Ok(Args { positional, flags })
}

/// Runs the CLI with `args` (without the program name), reading answers from `input`.
pub async fn run(
    args: Vec<String>,
    input: impl AsyncBufRead + Unpin,
    out: Out,
) -> anyhow::Result<()> {
    let args = parse_args(args)?;
    let subcommand = args.positional.first().cloned();
    if matches!(subcommand.as_deref(), Some("help" | "-h")) {
        out.line(USAGE);
        return Ok(());
    }
    let settings = Settings::load().context("loading settings")?;
    let tenant: TenantId = args
        .flags
        .get("tenant")
        .context("--tenant is required")?
        .parse()
        .context("--tenant must be a UUID")?;
    let token = match args
        .flags
        .get("token")
        .cloned()
        .or_else(|| std::env::var("KITCHEN_TOKEN").ok())
    {
        Some(token) => token,
        None => kitchen_adapters::auth::mint_dev_token(
            &settings.auth,
            tenant,
            "kitchen-cli",
            Duration::from_secs(12 * 3600),
        )?,
    };
    let gateway = args
        .flags
        .get("gateway")
        .cloned()
        .unwrap_or_else(|| format!("http://127.0.0.1:{}", settings.gateway.port));
    let realtime = args
        .flags
        .get("realtime")
        .cloned()
        .unwrap_or_else(|| format!("ws://127.0.0.1:{}", settings.realtime.port));
    let client = Client::new(gateway, realtime, token.clone());
    match subcommand.as_deref() {
        Some("token") => out.line(token),
        Some("send") => {
            let (Some(command_type), Some(payload)) =
                (args.positional.get(1), args.positional.get(2))
            else {
                bail!("usage: kitchen send --tenant ID TYPE 'JSON-PAYLOAD'");
            };
            let payload = serde_json::from_str(payload).context("the payload must be JSON")?;
            client.send_and_report(command_type, payload, &out).await?;
        }
        Some("watch") => {
            let after = args
                .flags
                .get("after")
                .map(|a| a.parse())
                .transpose()
                .context("--after must be a seq")?
                .unwrap_or(0);
            client.watch(after, out.clone()).await?;
        }
        None => {
            prompt::interactive(&client, args.flags.get("command").cloned(), input, out).await?
        }
        Some(other) => bail!("unknown subcommand {other:?}\n{USAGE}"),
    }
    Ok(())
}
