//! The drill's own PostgreSQL cluster: `initdb` into a temporary directory,
//! started on a free port with the Debian binaries (as the `postgres` user
//! when the drill runs as root, since the server refuses to run as root).
//! The machine's shared server is never touched: every fault of the drill
//! (sessions terminated, an immediate restart) lands on this cluster only.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use tokio_postgres::{Client, NoTls};

/// A running throwaway cluster; stopped (immediately) and deleted when dropped.
#[derive(Debug)]
pub struct Cluster {
    pub port: u16,
    bin: PathBuf,
    dir: PathBuf,
    keep: bool,
}

/// Whether this process runs as root (`/proc/self` belongs to the process's
/// effective user; the workspace forbids the `unsafe` of geteuid).
fn running_as_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

impl Cluster {
    /// Creates and starts a cluster with trust authentication on 127.0.0.1:`port`.
    /// `bin` is the directory of `initdb` and `pg_ctl`; with `keep` the
    /// directory (data and server log) survives the drill.
    pub fn create(bin: &Path, port: u16, keep: bool) -> anyhow::Result<Cluster> {
        for tool in ["initdb", "pg_ctl"] {
            if !bin.join(tool).exists() {
                bail!(
                    "{} not found: install postgresql-15 (apt-get install postgresql-15) or pass --pg-bin",
                    bin.join(tool).display()
                );
            }
        }
        let dir = std::env::temp_dir().join(format!("kitchen-drill-pg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        let cluster = Cluster {
            port,
            bin: bin.to_owned(),
            dir,
            keep,
        };
        if running_as_root() {
            run(Command::new("chown").arg("postgres:").arg(&cluster.dir))?;
        }
        cluster.pg("initdb", |c| {
            c.arg("-D")
                .arg(cluster.data())
                .args(["-U", "postgres", "--auth=trust", "--encoding=UTF8"])
                .args(["--locale=C", "--no-sync"])
        })?;
        // In the configuration file rather than on pg_ctl's command line, so
        // that `pg_ctl restart` starts the same server.
        let settings = format!(
            "\n# kitchen-drill\nport = {port}\nlisten_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{}'\nmax_connections = 400\n\
             shared_buffers = '128MB'\n",
            cluster.dir.display()
        );
        let conf = cluster.data().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf)?;
        text.push_str(&settings);
        std::fs::write(&conf, text)?;
        cluster.pg_ctl(&["start", "-w", "-t", "60"])?;
        Ok(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn log_file(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// Runs a PostgreSQL program as the cluster's owner.
    fn pg(
        &self,
        tool: &str,
        args: impl FnOnce(&mut Command) -> &mut Command,
    ) -> anyhow::Result<()> {
        let mut command = if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join(tool));
            c
        } else {
            Command::new(self.bin.join(tool))
        };
        args(&mut command);
        run(&mut command)
            .with_context(|| format!("{tool} (server log: {})", self.log_file().display()))
    }

    fn pg_ctl(&self, args: &[&str]) -> anyhow::Result<()> {
        let log = self.log_file();
        self.pg("pg_ctl", |c| {
            c.arg("-D").arg(self.data()).arg("-l").arg(&log).args(args)
        })
    }

    /// The fault: `pg_ctl restart -m immediate` (every backend killed without
    /// a checkpoint, crash recovery at start), waiting until it accepts again.
    pub fn restart_immediate(&self) -> anyhow::Result<()> {
        self.pg_ctl(&["restart", "-m", "immediate", "-w", "-t", "120"])
    }

    /// A superuser connection to `database` (bypasses row-level security).
    pub async fn superuser(&self, database: &str) -> anyhow::Result<Client> {
        let (client, connection) = tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={} user=postgres dbname={database}",
                self.port
            ),
            NoTls,
        )
        .await
        .with_context(|| format!("connecting to the drill cluster's {database}"))?;
        tokio::spawn(async move {
            // Ends when the connection does (a restart of the cluster).
            let _ = connection.await;
        });
        Ok(client)
    }

    /// The fault: terminates every session of `database` but the caller's.
    pub async fn terminate_sessions(&self, database: &str) -> anyhow::Result<i64> {
        let admin = self.superuser("postgres").await?;
        let row = admin
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&database],
            )
            .await?;
        Ok(row.get(0))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["stop", "-m", "immediate", "-w"]);
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
