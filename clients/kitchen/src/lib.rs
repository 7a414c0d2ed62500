//! The `kitchen` command-line client (seed 000's tool, in Rust).
//!
//! - `kitchen --tenant ID [--command TYPE]`: interactive; prints the tenant's
//!   events live while you type `createOrder`, `updateOrderStatus`,
//!   `cancelOrder`, `help` or `exit` (it asks for each payload field);
//! - `kitchen send --tenant ID TYPE 'JSON'`: sends one command, waits for its
//!   outcome, prints it and its events;
//! - `kitchen watch --tenant ID [--after N]`: prints events as they come;
//! - `kitchen token --tenant ID`: prints a development token.
//!
//! The options are in [`cli`] (`kitchen --help`). The client speaks only the
//! wire contract (`kitchen-wire`): it does not load the server's settings, so
//! without `--token` (or `KITCHEN_TOKEN`) it mints a development token from
//! `--dev-secret` / `KITCHEN__AUTH__HS256_SECRET`, which default to the
//! development values of `configuration/base.toml`.
#![forbid(unsafe_code)]

mod cli;
mod client;
mod prompt;
mod shown;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use kitchen_dev_token::DevKey;
use tokio::io::AsyncBufRead;

pub use cli::{Action, Cli, Connection};
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

/// Runs a parsed command line ([`Cli::parse_args`]), reading answers from `input`.
pub async fn run(cli: Cli, input: impl AsyncBufRead + Unpin, out: Out) -> anyhow::Result<()> {
    let c = cli.connection;
    let tenant = c.tenant.context("--tenant is required")?;
    let token = match c.token.clone() {
        Some(token) => token,
        None => DevKey {
            secret: &c.dev_secret,
            issuer: &c.dev_issuer,
            audience: &c.dev_audience,
        }
        .mint(tenant, "kitchen-cli", Duration::from_secs(12 * 3600))
        .context("minting a development token")?,
    };
    let client = Client::new(c.gateway_url(), c.realtime_url(), token.clone());
    match cli.action {
        Some(Action::Token) => out.line(token),
        Some(Action::Send {
            command_type,
            payload,
        }) => {
            client.send_and_report(&command_type, payload, &out).await?;
        }
        Some(Action::Watch { after }) => client.watch(after, out).await?,
        None => prompt::interactive(&client, cli.command, input, out).await?,
    }
    Ok(())
}
