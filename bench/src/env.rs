//! What every phase shares: the run's options, a fresh database per phase, and
//! the settings that point the services at it.

use std::path::PathBuf;
use std::time::Duration;

use kitchen_adapters::config::Settings;
use kitchen_domain::TenantId;
use kitchen_test_support::{tokens, TestDb};
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
    pub db: TestDb,
    pub settings: Settings,
}

impl Phase {
    pub async fn new() -> anyhow::Result<Phase> {
        let db = TestDb::new().await?;
        let mut settings = db.platform_settings();
        settings.database.pool_size = 16;
        settings.temporal.task_queue = format!("bench-{}", Uuid::new_v4());
        Ok(Phase { db, settings })
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
