//! command-pump: composition root (filled by the write-path and read-path issues).

fn main() -> anyhow::Result<()> {
    anyhow::bail!("command-pump is not implemented yet")
}
