//! The command line of `kitchen` (clap): every subcommand and option, with
//! `--help`. The connection and token options are global, so they may come
//! before or after the subcommand (`kitchen watch --tenant ID` and
//! `kitchen --tenant ID watch` both work).

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand};
use kitchen_dev_token::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, DEFAULT_SECRET};
use serde_json::Value;
use uuid::Uuid;

/// The commands the interactive prompt asks payloads for.
pub(crate) const PROMPT_COMMANDS: [&str; 3] = ["createOrder", "updateOrderStatus", "cancelOrder"];

/// Send commands to KitchenEats and watch a household's events live.
///
/// Without a subcommand: an interactive prompt that prints the household's
/// events live while you type createOrder, updateOrderStatus, cancelOrder,
/// help or exit (it asks for each payload field; Enter takes the default).
#[derive(Debug, Parser)]
#[command(name = "kitchen", version)]
pub struct Cli {
    #[command(flatten)]
    pub connection: Connection,
    /// Interactive prompt: run this command first.
    #[arg(long, value_name = "TYPE", value_parser = PROMPT_COMMANDS)]
    pub command: Option<String>,
    #[command(subcommand)]
    pub action: Option<Action>,
}

/// Where the services are and how to authenticate (global options).
#[derive(Debug, Args)]
pub struct Connection {
    /// The household (tenant) to act as; required.
    #[arg(long, global = true, value_name = "UUID")]
    pub tenant: Option<Uuid>,
    /// The command gateway [default: http://127.0.0.1:8080, or the port in
    /// KITCHEN__GATEWAY__PORT as the services read it].
    #[arg(long, global = true, value_name = "URL")]
    pub gateway: Option<String>,
    /// The realtime service, the event stream [default: ws://127.0.0.1:8081,
    /// or the port in KITCHEN__REALTIME__PORT].
    #[arg(long, global = true, value_name = "URL")]
    pub realtime: Option<String>,
    /// A bearer token; without one, a development token is minted with the
    /// --dev-* values below.
    #[arg(
        long,
        global = true,
        value_name = "JWT",
        env = "KITCHEN_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// HS256 secret of development tokens: the server's `auth.hs256_secret`
    /// (the same variable configures both). Default: the development secret
    /// of configuration/base.toml.
    #[arg(
        long,
        global = true,
        value_name = "SECRET",
        env = "KITCHEN__AUTH__HS256_SECRET",
        hide_env_values = true,
        default_value = DEFAULT_SECRET,
        hide_default_value = true
    )]
    pub dev_secret: String,
    /// `iss` of development tokens: the server's `auth.issuer`.
    #[arg(
        long,
        global = true,
        value_name = "ISSUER",
        env = "KITCHEN__AUTH__ISSUER",
        hide_env_values = true,
        default_value = DEFAULT_ISSUER
    )]
    pub dev_issuer: String,
    /// `aud` of development tokens: the server's `auth.audience`.
    #[arg(
        long,
        global = true,
        value_name = "AUDIENCE",
        env = "KITCHEN__AUTH__AUDIENCE",
        hide_env_values = true,
        default_value = DEFAULT_AUDIENCE
    )]
    pub dev_audience: String,
}

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Send one command, wait for its outcome, print it and its events.
    Send {
        /// The command type, e.g. createOrder, cancelOrder or addMenuItem.
        #[arg(value_name = "TYPE")]
        command_type: String,
        /// The payload, as JSON: '{"orderId": "...", ...}'.
        #[arg(value_name = "JSON", value_parser = json)]
        payload: Value,
    },
    /// Print the household's events after a seq, then live ones, until the
    /// stream closes.
    Watch {
        /// Start after this seq (0: from the first event).
        #[arg(long, value_name = "SEQ", default_value_t = 0)]
        after: i64,
    },
    /// Print the token the other subcommands use (a development token unless
    /// --token or KITCHEN_TOKEN is given).
    Token,
}

impl Connection {
    /// `--gateway`, or the gateway on this machine at the port the services use.
    pub fn gateway_url(&self) -> String {
        self.gateway
            .clone()
            .unwrap_or_else(|| format!("http://127.0.0.1:{}", port("KITCHEN__GATEWAY__PORT", 8080)))
    }

    /// `--realtime`, or realtime on this machine at the port the services use.
    pub fn realtime_url(&self) -> String {
        self.realtime
            .clone()
            .unwrap_or_else(|| format!("ws://127.0.0.1:{}", port("KITCHEN__REALTIME__PORT", 8081)))
    }
}

/// A port from the services' own variable (as `scripts/dev-up` sets it), or
/// base.toml's default.
fn port(variable: &str, default: u16) -> u16 {
    std::env::var(variable)
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(default)
}

fn json(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))
}

impl Cli {
    /// Parses a command line (program name first). Errors are clap's, so
    /// `main` prints them with usage and exits 2 (`--help` exits 0).
    pub fn parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let cli = Cli::try_parse_from(args)?;
        // A global option cannot be `required` in clap, so it is checked here.
        if cli.connection.tenant.is_none() {
            return Err(Cli::command().error(
                ErrorKind::MissingRequiredArgument,
                "the following required argument was not provided: --tenant <UUID>",
            ));
        }
        Ok(cli)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "7d4f4a52-4b44-4b9e-9a0e-0e5f2b7c1a11";

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::parse_args(std::iter::once("kitchen").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn options_go_before_or_after_the_subcommand() {
        for args in [
            &["watch", "--tenant", TENANT, "--after", "5"][..],
            &["--tenant", TENANT, "watch", "--after", "5"][..],
        ] {
            let cli = parse(args).unwrap();
            assert_eq!(cli.connection.tenant, Some(TENANT.parse().unwrap()));
            assert!(matches!(cli.action, Some(Action::Watch { after: 5 })));
        }
    }

    #[test]
    fn send_takes_a_type_and_a_json_payload() {
        let cli = parse(&[
            "send",
            "--tenant",
            TENANT,
            "cancelOrder",
            r#"{"orderId":"x"}"#,
        ])
        .unwrap();
        let Some(Action::Send {
            command_type,
            payload,
        }) = cli.action
        else {
            panic!("not send: {cli:?}");
        };
        assert_eq!(
            (command_type.as_str(), &payload["orderId"]),
            ("cancelOrder", &Value::from("x"))
        );
        let err = parse(&["send", "--tenant", TENANT, "cancelOrder", "{nope"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
    }

    #[test]
    fn without_a_subcommand_it_is_the_prompt_with_defaults() {
        let cli = parse(&["--tenant", TENANT, "--command", "createOrder"]).unwrap();
        assert!(cli.action.is_none());
        assert_eq!(cli.command.as_deref(), Some("createOrder"));
        assert!(cli
            .connection
            .gateway_url()
            .starts_with("http://127.0.0.1:"));
        assert!(cli.connection.realtime_url().starts_with("ws://127.0.0.1:"));
    }

    #[test]
    fn bad_arguments_are_clap_errors() {
        let kind = |args: &[&str]| parse(args).unwrap_err().kind();
        assert_eq!(kind(&["watch"]), ErrorKind::MissingRequiredArgument);
        assert_eq!(
            kind(&["--tenant", "not-a-uuid", "token"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            kind(&["--tenant", TENANT, "--command", "dance"]),
            ErrorKind::InvalidValue
        );
        assert_eq!(
            kind(&["--tenant", TENANT, "frobnicate"]),
            ErrorKind::InvalidSubcommand
        );
        assert_eq!(kind(&["--help"]), ErrorKind::DisplayHelp);
        assert_eq!(kind(&["send", "--help"]), ErrorKind::DisplayHelp);
    }
}
