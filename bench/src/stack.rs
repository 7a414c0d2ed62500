//! The services under test, run as the real binaries (built next to this one)
//! in child processes configured through the environment, like a deployment.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use kitchen_adapters::config::Settings;

use kitchen_test_support::platform_api;
pub use kitchen_test_support::process::free_port;

/// Resident set size of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .context("no VmRSS in /proc/PID/status")
}

/// One running service process; killed when dropped.
#[derive(Debug)]
pub struct Service {
    pub name: &'static str,
    pub port: u16,
    child: Child,
}

fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::current_exe()?
        .parent()
        .context("the bench binary has no directory")?
        .to_owned();
    let path = dir.join(name);
    if !path.exists() {
        bail!(
            "{} not found: build the services first (cargo build --release --workspace --bins)",
            path.display()
        );
    }
    Ok(path)
}

/// The environment that points a service at the bench's database, Temporal and
/// task queue. Logs go to `<log_dir>/<name>.log`.
fn environment(settings: &Settings) -> Vec<(&'static str, String)> {
    let db = &settings.database;
    vec![
        // The bench runs with the built-in development secrets, which a
        // service refuses outside a development KITCHEN_ENV.
        ("KITCHEN_ENV", "test".to_owned()),
        ("KITCHEN__DATABASE__HOST", db.host.clone()),
        ("KITCHEN__DATABASE__PORT", db.port.to_string()),
        ("KITCHEN__DATABASE__NAME", db.name.clone()),
        ("KITCHEN__DATABASE__POOL_SIZE", db.pool_size.to_string()),
        (
            "KITCHEN__TEMPORAL__ADDRESS",
            settings.temporal.address.clone(),
        ),
        (
            "KITCHEN__TEMPORAL__TASK_QUEUE",
            settings.temporal.task_queue.clone(),
        ),
        // The phase's quotas and overload rules (base.toml's unless it changed them).
        (
            "KITCHEN__QUOTAS__COMMANDS_PER_SEC",
            settings.quotas.commands_per_sec.to_string(),
        ),
        (
            "KITCHEN__QUOTAS__COMMAND_BURST",
            settings.quotas.command_burst.to_string(),
        ),
        (
            "KITCHEN__QUOTAS__MAX_OPEN_COMMANDS",
            settings.quotas.max_open_commands.to_string(),
        ),
        (
            "KITCHEN__QUOTAS__MAX_SOCKETS",
            settings.quotas.max_sockets.to_string(),
        ),
        (
            "KITCHEN__OVERLOAD__REFRESH_MS",
            settings.overload.refresh_ms.to_string(),
        ),
        (
            "KITCHEN__OVERLOAD__MAX_OPEN_COMMANDS",
            settings.overload.max_open_commands.to_string(),
        ),
        (
            "KITCHEN__OVERLOAD__MAX_HEAD_WAIT_MS",
            settings.overload.max_head_wait_ms.to_string(),
        ),
        (
            "KITCHEN__OVERLOAD__MAX_OLDEST_DUE_MS",
            settings.overload.max_oldest_due_ms.to_string(),
        ),
        (
            "KITCHEN__OVERLOAD__MAX_IN_FLIGHT_COMMANDS",
            settings.overload.max_in_flight_commands.to_string(),
        ),
        (
            "KITCHEN__OVERLOAD__HEARTBEAT_FRESH_MS",
            settings.overload.heartbeat_fresh_ms.to_string(),
        ),
        (
            "KITCHEN__PUMP__MAX_IN_FLIGHT_PER_TENANT",
            settings.pump.max_in_flight_per_tenant.to_string(),
        ),
        // KITCHEN_BENCH_LOG (an EnvFilter) raises the services' logging to profile.
        (
            "RUST_LOG",
            std::env::var("KITCHEN_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        ),
    ]
}

impl Service {
    /// Starts `name` (command-gateway, command-pump, worker, realtime) on a
    /// free port and waits until its /readyz answers 200.
    pub async fn start(
        name: &'static str,
        settings: &Settings,
        log_dir: &std::path::Path,
    ) -> anyhow::Result<Service> {
        Self::start_with(name, settings, log_dir, &[]).await
    }

    /// [`Service::start`] with more settings (`KITCHEN__...` variables).
    pub async fn start_with(
        name: &'static str,
        settings: &Settings,
        log_dir: &std::path::Path,
        extra: &[(&str, String)],
    ) -> anyhow::Result<Service> {
        let port = free_port();
        let port_var = match name {
            "command-gateway" => "KITCHEN__GATEWAY__PORT",
            "command-pump" => "KITCHEN__PUMP__PORT",
            "worker" => "KITCHEN__WORKER__PORT",
            "realtime" => "KITCHEN__REALTIME__PORT",
            other => bail!("unknown service {other}"),
        };
        std::fs::create_dir_all(log_dir)?;
        let log = std::fs::File::create(log_dir.join(format!("{name}.log")))?;
        let child = Command::new(binary(name)?)
            .envs(environment(settings))
            .env(port_var, port.to_string())
            .envs(extra.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let service = Service { name, port, child };
        service.wait_ready(Duration::from_secs(30)).await?;
        Ok(service)
    }

    async fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        if !platform_api::until_ready(&http, &self.http_base(), timeout, || false).await {
            bail!(
                "{} not ready on port {} within {timeout:?} (see its log)",
                self.name,
                self.port
            );
        }
        Ok(())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn http_base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn ws_base(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
