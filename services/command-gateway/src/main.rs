//! command-gateway: composition root (filled by the write-path and read-path issues).

fn main() -> anyhow::Result<()> {
    anyhow::bail!("command-gateway is not implemented yet")
}
