//! The four services as child processes on fixed ports, so that a service
//! killed with SIGKILL comes back where its clients (the load, the sockets)
//! reconnect; and the small process helpers the drill's faults need.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};

use kitchen_test_support::platform_api;
pub use kitchen_test_support::process::free_port;

/// Sends `signal` to `pid` with kill(1) (the workspace forbids `unsafe`).
pub fn signal(pid: u32, signal: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()?;
    if !status.success() {
        bail!("kill -{signal} {pid} failed");
    }
    Ok(())
}

/// Whether `pid` still runs (a zombie, dead but not yet reaped, does not).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses.
        Ok(stat) => stat
            .rsplit_once(") ")
            .map(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// The directory of the drill binary, where cargo put the services too.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::current_exe()?
        .parent()
        .context("the drill binary has no directory")?
        .join(name);
    if !path.exists() {
        bail!(
            "{} not found: build the workspace's binaries first (scripts/drill does)",
            path.display()
        );
    }
    Ok(path)
}

/// The services the drill runs, in start order.
pub const SERVICES: [&str; 4] = ["command-gateway", "command-pump", "worker", "realtime"];

fn port_variable(name: &str) -> &'static str {
    match name {
        "command-gateway" => "KITCHEN__GATEWAY__PORT",
        "command-pump" => "KITCHEN__PUMP__PORT",
        "worker" => "KITCHEN__WORKER__PORT",
        _ => "KITCHEN__REALTIME__PORT",
    }
}

/// One service: its port, environment and (while it runs) its process.
#[derive(Debug)]
pub struct Service {
    pub name: &'static str,
    pub port: u16,
    env: Vec<(String, String)>,
    log_dir: PathBuf,
    child: Option<Child>,
    starts: u32,
}

impl Service {
    /// Starts `name` on a free port with `env` (the platform's `KITCHEN__…`
    /// settings) and waits until its /readyz answers 200.
    pub async fn start(
        name: &'static str,
        env: Vec<(String, String)>,
        log_dir: &Path,
    ) -> anyhow::Result<Service> {
        let mut service = Service {
            name,
            port: free_port(),
            env,
            log_dir: log_dir.to_owned(),
            child: None,
            starts: 0,
        };
        service.restart().await?;
        Ok(service)
    }

    /// (Re)starts the process on the same port; each start logs to a file of
    /// its own (`<name>.<n>.log`), so a killed process's last lines remain.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.starts += 1;
        let log_path = self
            .log_dir
            .join(format!("{}.{}.log", self.name, self.starts));
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new(binary(self.name)?)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env(port_variable(self.name), self.port.to_string())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.name))?;
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(60))
            .await
            .with_context(|| format!("see {}", log_path.display()))
    }

    async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let base = self.url("http");
        let child = &mut self.child;
        let exited = || {
            child
                .as_mut()
                .is_none_or(|c| c.try_wait().ok().flatten().is_some())
        };
        if !platform_api::until_ready(&http, &base, timeout, exited).await {
            bail!(
                "{} not ready on port {} within {timeout:?} (or it exited)",
                self.name,
                self.port
            );
        }
        Ok(())
    }

    /// The fault: SIGKILL (no shutdown of any kind), reaped at once.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// `scheme://127.0.0.1:port` (`http` or `ws`).
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}", self.port)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}
