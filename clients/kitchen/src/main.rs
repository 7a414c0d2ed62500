//! `kitchen`: see `kitchen --help`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Bad arguments print clap's error with the usage and exit 2.
    let cli = kitchen::Cli::parse_args(std::env::args_os()).unwrap_or_else(|e| e.exit());
    let stdin = tokio::io::BufReader::new(tokio::io::stdin());
    kitchen::run(cli, stdin, kitchen::Out::stdout()).await
}
