//! The pump's heartbeat row (`pump_heartbeats`, migration 000040): upserted
//! every `EVERY` while the pump runs and deleted when it stops, so the
//! gateway's overload reading (`platform_load()`) knows whether any pump is
//! alive without asking Temporal or the pump itself. Rows of pumps that died
//! without deleting theirs are dropped after an hour by the next beat.

use std::time::Duration;

use diesel::sql_types::Uuid as SqlUuid;
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
INSERT INTO pump_heartbeats (pump_id, beat_at) VALUES ($1, now())
ON CONFLICT (pump_id) DO UPDATE SET beat_at = excluded.beat_at";

/// Beats until `shutdown`, then removes this pump's row.
pub(crate) async fn run(pool: PgPool, shutdown: Shutdown) {
    let pump_id = Uuid::new_v4();
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.wait() => break,
        }
        if let Err(e) = beat(&pool, pump_id).await {
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

async fn beat(pool: &PgPool, pump_id: Uuid) -> Result<(), String> {
    let mut conn = pool.get().await.map_err(|e| e.to_string())?;
    Prepared(diesel::sql_query(BEAT_SQL).bind::<SqlUuid, _>(pump_id))
        .execute(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}
