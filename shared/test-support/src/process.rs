//! Services as child processes, for what only a real process shows: how it
//! answers signals and with which exit status. A test passes its own binary
//! (`env!("CARGO_BIN_EXE_…")` is known only to the package's own tests) and
//! its settings, which reach the child as `KITCHEN__…` variables.

use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use kitchen_adapters::config::Settings;
use tokio::process::{Child, Command};

/// A free TCP port on 127.0.0.1 (for a child that must listen where the test
/// knows; the tiny window before the child binds is acceptable in tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The variables that point a service at `settings`' database, Temporal,
/// ports and pump timing.
fn env_of(settings: &Settings) -> Vec<(&'static str, String)> {
    let (db, t, p) = (&settings.database, &settings.temporal, &settings.pump);
    vec![
        // Tests run with the built-in development secrets, which a service
        // refuses anywhere else (kitchen_adapters::safe_defaults).
        ("KITCHEN_ENV", test_environment()),
        ("KITCHEN__DATABASE__NAME", db.name.clone()),
        ("KITCHEN__DATABASE__HOST", db.host.clone()),
        ("KITCHEN__DATABASE__PORT", db.port.to_string()),
        ("KITCHEN__TEMPORAL__ADDRESS", t.address.clone()),
        ("KITCHEN__TEMPORAL__TASK_QUEUE", t.task_queue.clone()),
        ("KITCHEN__GATEWAY__PORT", settings.gateway.port.to_string()),
        (
            "KITCHEN__REALTIME__PORT",
            settings.realtime.port.to_string(),
        ),
        ("KITCHEN__PUMP__PORT", p.port.to_string()),
        ("KITCHEN__WORKER__PORT", settings.worker.port.to_string()),
        (
            "KITCHEN__PUMP__SWEEP_INTERVAL_MS",
            p.sweep_interval_ms.to_string(),
        ),
        (
            "KITCHEN__PUMP__STALE_CLAIM_SECS",
            p.stale_claim_secs.to_string(),
        ),
        (
            "KITCHEN__PUMP__BACKOFF_BASE_MS",
            p.backoff_base_ms.to_string(),
        ),
        (
            "KITCHEN__PUMP__BACKOFF_MAX_MS",
            p.backoff_max_ms.to_string(),
        ),
        (
            "KITCHEN__PUMP__START_TIMEOUT_MS",
            p.start_timeout_ms.to_string(),
        ),
        (
            "KITCHEN__PUMP__MAX_IN_FLIGHT_PER_TENANT",
            p.max_in_flight_per_tenant.to_string(),
        ),
    ]
}

/// The `KITCHEN_ENV` of a service a test starts: the test's own when it is a
/// development one (`scripts/test` sets `local`), else `test`.
pub fn test_environment() -> String {
    std::env::var("KITCHEN_ENV")
        .ok()
        .filter(|e| kitchen_adapters::safe_defaults::DEVELOPMENT_ENVIRONMENTS.contains(&e.as_str()))
        .unwrap_or_else(|| "test".to_owned())
}

/// Starts `binary` with `settings`; logs go to the test's stderr when
/// `TEST_LOG` is set. Killed if the test drops it.
pub fn spawn(binary: &str, settings: &Settings) -> Child {
    let verbose = std::env::var_os("TEST_LOG").is_some();
    Command::new(binary)
        .envs(env_of(settings))
        .env("RUST_LOG", if verbose { "info" } else { "warn" })
        .stdout(Stdio::null())
        .stderr(if verbose {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {binary}: {e}"))
}

/// Sends `signal` (`TERM`, `STOP`, `CONT`, …) to `pid` with kill(1): the
/// workspace forbids `unsafe`, and this is all a test needs.
pub fn send_signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill(1)");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// SIGTERMs `child` and waits for it to exit; panics (after SIGKILLing it)
/// unless it exits within `within`. Returns the status and how long it took.
pub async fn terminate(child: &mut Child, within: Duration) -> (ExitStatus, Duration) {
    let pid = child.id().expect("the child still runs");
    let began = Instant::now();
    send_signal(pid, "TERM");
    match tokio::time::timeout(within, child.wait()).await {
        Ok(status) => (status.expect("wait for the child"), began.elapsed()),
        Err(_) => {
            let _ = child.kill().await;
            panic!("pid {pid} still ran {within:?} after SIGTERM");
        }
    }
}
