//! What every phase shares: the run's options, a fresh database per phase, and
//! the settings that point the services at it.

use std::path::PathBuf;
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use kitchen_adapters::config::{DbRole, Settings};
use kitchen_domain::TenantId;
use kitchen_test_support::{tokens, TestDb};
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::report::Row;

/// Options of the run.
#[derive(Debug, Clone)]
pub struct Run {
    /// Seconds-long sizes, to check that the bench works (not for figures).
    pub smoke: bool,
    pub log_dir: PathBuf,
}

impl Run {
    /// `full` normally, `smoke` in smoke mode.
    pub fn size<T>(&self, full: T, smoke: T) -> T {
        if self.smoke {
            smoke
        } else {
            full
        }
    }

    pub fn secs(&self, full: f64, smoke: f64) -> Duration {
        Duration::from_secs_f64(self.size(full, smoke))
    }
}

/// A phase's own database and the settings of a platform pointed at it (with
/// a task queue of its own on the shared dev server).
pub struct Phase {
    // First: fields drop in order, and the vacuums stop before the database
    // is dropped under them.
    _vacuum: Option<StandInAutovacuum>,
    pub db: TestDb,
    pub settings: Settings,
}

/// Seconds between two `VACUUM (ANALYZE)` of a phase's database;
/// KITCHEN_BENCH_VACUUM_SECS overrides it (0: none).
const VACUUM_EVERY_SECS: u64 = 5;

/// The machine's PostgreSQL runs with `autovacuum = off` (the CI image's
/// `conf.d/90-ci.conf`); a deployment runs it on. Without it, a row that churns
/// the `commands` table (each command is written four times) leaves every
/// scan of it walking more dead versions each second, and measures that
/// instead of the platform (row 8: 831,711 heap fetches in one load reading).
/// This stands in for autovacuum while the phase lives: `VACUUM (ANALYZE)` of
/// the phase's database every few seconds, as its owner.
struct StandInAutovacuum(tokio::task::JoinHandle<()>);

impl StandInAutovacuum {
    fn start(db: &TestDb) -> Option<Self> {
        let every: u64 = std::env::var("KITCHEN_BENCH_VACUUM_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(VACUUM_EVERY_SECS);
        if every == 0 {
            return None;
        }
        let url = db.url(DbRole::Owner);
        Some(Self(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(every));
            tick.tick().await;
            loop {
                tick.tick().await;
                let vacuumed = async {
                    let mut conn = AsyncPgConnection::establish(url.expose_secret()).await?;
                    conn.batch_execute("VACUUM (ANALYZE)").await?;
                    anyhow::Ok(())
                }
                .await;
                if let Err(e) = vacuumed {
                    eprintln!("  (stand-in autovacuum failed: {e})");
                }
            }
        })))
    }
}

impl Drop for StandInAutovacuum {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Phase {
    pub async fn new() -> anyhow::Result<Phase> {
        let db = TestDb::new().await?;
        let mut settings = db.platform_settings();
        settings.database.pool_size = 16;
        settings.temporal.task_queue = format!("bench-{}", Uuid::new_v4());
        let vacuum = StandInAutovacuum::start(&db);
        Ok(Phase {
            _vacuum: vacuum,
            db,
            settings,
        })
    }

    pub fn token(&self, tenant: TenantId) -> String {
        tokens::valid(&self.settings.auth, tenant)
    }
}

/// What a phase adds to the report.
#[derive(Debug, Default)]
pub struct Findings {
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

impl Findings {
    pub fn row(&mut self, row: Row) {
        println!(
            "  {} {}: {:.2} {}{}",
            row.row,
            row.figure,
            row.ours,
            row.unit,
            row.raw
                .map(|r| format!(" (raw {r:.2}, ratio {:.2})", row.ours / r))
                .unwrap_or_default()
        );
        self.rows.push(row);
    }

    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        println!("  note: {note}");
        self.notes.push(note);
    }
}

/// The `createOrder` payload the bench posts.
pub fn create_order_payload(order: Uuid) -> serde_json::Value {
    serde_json::json!({
        "orderId": order,
        "userId": "user-1",
        "items": [{"menuItemId": "menu-item-1", "quantity": 1}]
    })
}
