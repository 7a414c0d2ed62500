//! The drill's own Temporal dev server, file-backed so that a kill -9 and a
//! restart keep every workflow. Started by `start_temporal` of
//! `scripts/lib.sh`, so it runs with the project's tuned settings (DESIGN.md
//! section 9) and the CLI is found or installed the same way as everywhere.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::process;

#[derive(Debug)]
pub struct Temporal {
    pub port: u16,
    ui_port: u16,
    lib: PathBuf,
    dir: PathBuf,
}

impl Temporal {
    /// Starts a dev server on `port` whose state lives in `dir/temporal.db`.
    pub fn start(lib: &Path, dir: &Path, port: u16) -> anyhow::Result<Temporal> {
        std::fs::create_dir_all(dir)?;
        let temporal = Temporal {
            port,
            ui_port: process::free_port(),
            lib: lib.to_owned(),
            dir: dir.to_owned(),
        };
        temporal.launch()?;
        Ok(temporal)
    }

    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join("temporal.pid")
    }

    fn launch(&self) -> anyhow::Result<()> {
        let status = Command::new("bash")
            .arg("-c")
            .arg(r#"source "$1" && start_temporal "$2" "$3" "$4" "$5" "$6""#)
            .arg("drill")
            .arg(&self.lib)
            .arg(self.port.to_string())
            .arg(self.ui_port.to_string())
            .arg(self.dir.join("temporal.db"))
            .arg(self.dir.join("temporal.log"))
            .arg(self.pid_file())
            .status()
            .context("running start_temporal of scripts/lib.sh")?;
        if !status.success() {
            bail!(
                "the Temporal dev server did not start (see {})",
                self.dir.join("temporal.log").display()
            );
        }
        Ok(())
    }

    fn pid(&self) -> anyhow::Result<u32> {
        let text = std::fs::read_to_string(self.pid_file())?;
        text.trim().parse().context("the Temporal pid file")
    }

    /// The fault: SIGKILL, and wait until the process is gone.
    pub fn kill(&self) -> anyhow::Result<()> {
        self.signal_and_wait("KILL", Duration::from_secs(20))
    }

    /// Sends `signal` and waits up to `within` for the process to be gone.
    fn signal_and_wait(&self, signal: &str, within: Duration) -> anyhow::Result<()> {
        let pid = self.pid()?;
        process::signal(pid, signal)?;
        let deadline = Instant::now() + within;
        while process::alive(pid) {
            if Instant::now() > deadline {
                bail!("Temporal (pid {pid}) still runs {within:?} after SIG{signal}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Starts the server again on the same port and database file.
    pub fn restart(&self) -> anyhow::Result<()> {
        self.launch()
    }
}

impl Drop for Temporal {
    /// Stops the server and waits until it is gone, so that the next run's
    /// server never meets this one still writing its database file.
    fn drop(&mut self) {
        if self
            .signal_and_wait("TERM", Duration::from_secs(10))
            .is_err()
        {
            let _ = self.kill();
        }
    }
}
