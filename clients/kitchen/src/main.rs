//! `kitchen`: see `kitchen help`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stdin = tokio::io::BufReader::new(tokio::io::stdin());
    kitchen::run(args, stdin, kitchen::Out::stdout()).await
}
