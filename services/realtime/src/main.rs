//! realtime: composition root (filled by the write-path and read-path issues).

fn main() -> anyhow::Result<()> {
    anyhow::bail!("realtime is not implemented yet")
}
