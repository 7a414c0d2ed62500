//! The pump's heartbeat row (`pump_heartbeats`, migration 000040): upserted
//! every `EVERY` while the pump runs and deleted when it stops, so the
//! gateway's overload reading (`platform_load()`) knows whether any pump is
//! alive without asking Temporal or the pump itself, and how long a command
//! first in its tenant's line waited for a start slot since the last beat
//! (`head_wait_ms`, see `fair`). Rows of pumps that died without deleting
//! theirs are dropped after an hour by the next beat.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::sql_types::{BigInt, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use kitchen_adapters::postgres::{PgPool, Prepared};
use kitchen_adapters::shutdown::Shutdown;
use uuid::Uuid;

/// How often the row is refreshed (the gateway's `overload.heartbeat_fresh_ms`
/// should be a few times this).
pub(crate) const EVERY: Duration = Duration::from_secs(1);

const BEAT_SQL: &str = "\
WITH gone AS (DELETE FROM pump_heartbeats
              WHERE beat_at < now() - interval '1 hour' AND pump_id <> $1)
INSERT INTO pump_heartbeats (pump_id, beat_at, head_wait_ms) VALUES ($1, now(), $2)
ON CONFLICT (pump_id) DO UPDATE SET beat_at = excluded.beat_at, head_wait_ms = excluded.head_wait_ms";

/// Beats until `shutdown`, then removes this pump's row. Each beat takes
/// (and resets) the longest head wait recorded in `head_wait_ms`.
pub(crate) async fn run(pool: PgPool, head_wait_ms: Arc<AtomicU64>, shutdown: Shutdown) {
    let pump_id = Uuid::new_v4();
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.wait() => break,
        }
        let waited = head_wait_ms.swap(0, Ordering::Relaxed);
        if let Err(e) = beat(&pool, pump_id, waited).await {
            tracing::warn!(cause = %e, "pump heartbeat failed");
        }
    }
    let gone = async {
        let mut conn = pool.get().await.map_err(|e| e.to_string())?;
        diesel::sql_query("DELETE FROM pump_heartbeats WHERE pump_id = $1")
            .bind::<SqlUuid, _>(pump_id)
            .execute(&mut conn)
            .await
            .map_err(|e| e.to_string())
    };
    if let Err(e) = gone.await {
        tracing::warn!(cause = %e, "could not remove the pump heartbeat");
    }
}

async fn beat(pool: &PgPool, pump_id: Uuid, head_wait_ms: u64) -> Result<(), String> {
    let mut conn = pool.get().await.map_err(|e| e.to_string())?;
    Prepared(
        diesel::sql_query(BEAT_SQL)
            .bind::<SqlUuid, _>(pump_id)
            .bind::<BigInt, _>(i64::try_from(head_wait_ms).unwrap_or(i64::MAX)),
    )
    .execute(&mut conn)
    .await
    .map_err(|e| e.to_string())?;
    Ok(())
}
