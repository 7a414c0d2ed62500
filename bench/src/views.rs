//! Row 7: read models. `GET /v1/views/orderBoard` of a tenant with 10k open
//! orders beside the same rows read by raw SQL; and the rebuild of a tenant
//! with 1M events (events/s) with the longest append stall it caused, beside
//! the longest append of the same writer just before the rebuild.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use kitchen_adapters::config::DbRole;
use kitchen_adapters::postgres::views::{rebuild, RebuildOptions, RebuildOutcome, RebuildScope};
use kitchen_adapters::postgres::PgEventStore;
use kitchen_domain::projection::projection;
use kitchen_domain::{AggregateId, TenantId};
use kitchen_test_support::fixtures;
use secrecy::ExposeSecret;

use crate::env::{Findings, Phase, Run};
use crate::report::Row;
use crate::seed::{self, Snapshots};
use crate::stack::Service;
use crate::stats::Percentiles;

async fn run_rebuild(phase: &Phase, scope: RebuildScope) -> anyhow::Result<(Duration, Duration)> {
    let options = RebuildOptions {
        batch: 5_000,
        ..RebuildOptions::default()
    };
    let url = phase.db.url(DbRole::Worker);
    let pool = kitchen_adapters::postgres::pool(&url, 2)?;
    let started = Instant::now();
    let RebuildOutcome::Ran(views) = rebuild(&url, &pool, scope, options, |_| {}).await? else {
        bail!("another runner held the lock");
    };
    let lock = views.iter().map(|v| v.lock_held).max().unwrap_or_default();
    Ok((started.elapsed(), lock))
}

async fn time_view(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    orders: usize,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let response = http.get(url).bearer_auth(token).send().await?;
    if !response.status().is_success() {
        bail!("view answered {}", response.status());
    }
    let bytes = response.bytes().await?;
    let took = started.elapsed();
    let body: serde_json::Value = serde_json::from_slice(&bytes)?;
    let count = body["view"]["orders"].as_array().map(Vec::len).unwrap_or(0);
    if count != orders {
        bail!("the board had {count} orders, expected {orders}");
    }
    Ok(took)
}

/// The same rows as the gateway reads them, by raw SQL in one round trip.
async fn time_raw(phase: &Phase, tenant: TenantId) -> anyhow::Result<Duration> {
    let mut conn =
        AsyncPgConnection::establish(phase.db.url(DbRole::Gateway).expose_secret()).await?;
    let started = Instant::now();
    conn.batch_execute(&format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT set_config('app.tenant_id', '{tenant}', true);
         SELECT r.key, r.doc, r.seq FROM view_rows r JOIN view_heads h USING (tenant_id, projection, generation)
         WHERE h.tenant_id = '{tenant}' AND h.projection = 'orderBoard' AND h.state = 'active' ORDER BY r.key; COMMIT"
    ))
    .await?;
    Ok(started.elapsed())
}

async fn board(run: &Run, phase: &Phase, out: &mut Findings) -> anyhow::Result<()> {
    let orders = run.size(10_000, 500);
    let tenant = phase.db.active_tenant().await;
    seed::orders(phase, tenant, orders, 1, Snapshots::None).await?;
    let (built_in, _) = run_rebuild(phase, RebuildScope::VersionChanges).await?;
    let gateway = Service::start("command-gateway", &phase.settings, &run.log_dir).await?;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/views/orderBoard", gateway.http_base());
    let token = phase.token(tenant);
    time_view(&http, &url, &token, orders).await?; // warm-up
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..run.size(20, 3) {
        ours.push(time_view(&http, &url, &token, orders).await?);
        raw.push(time_raw(phase, tenant).await?);
    }
    let ours = Percentiles::of(&mut ours).context("samples")?;
    let raw = Percentiles::of(&mut raw).context("samples")?;
    out.row(
        Row::new(
            "7",
            format!("GET /v1/views/orderBoard, {orders} open orders: p50"),
            "ms",
            ours.p50_ms,
        )
        .raw(raw.p50_ms, "the same rows by one SQL query"),
    );
    out.note(format!(
        "row 7 board: max {:.1} ms; the three views of {orders} events built in {:.2} s",
        ours.max_ms,
        built_in.as_secs_f64()
    ));
    Ok(())
}

/// Appends new orders to `tenant` one at a time until `stop`; the longest one.
async fn longest_append(
    store: PgEventStore,
    tenant: TenantId,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<(Duration, u64)> {
    let (mut longest, mut count) = (Duration::ZERO, 0);
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        fixtures::append_created(&store, tenant, AggregateId::new_random()).await;
        longest = longest.max(started.elapsed());
        count += 1;
    }
    Ok((longest, count))
}

async fn rebuild_under_appends(run: &Run, phase: &Phase, out: &mut Findings) -> anyhow::Result<()> {
    let (orders, per_order) = (run.size(10_000, 500), run.size(100, 10));
    let events = orders * per_order;
    let tenant = phase.db.active_tenant().await;
    let seeding = Instant::now();
    seed::orders(phase, tenant, orders, per_order, Snapshots::None).await?;
    let seeded_in = seeding.elapsed();
    // The views exist (as before a deployment), then orderBoard is rebuilt.
    let (initial, _) = run_rebuild(phase, RebuildScope::VersionChanges).await?;
    let store = PgEventStore::new(kitchen_adapters::postgres::pool(
        &phase.db.url(DbRole::Worker),
        2,
    )?);
    let stop = Arc::new(AtomicBool::new(false));
    let before = tokio::spawn(longest_append(store.clone(), tenant, stop.clone()));
    tokio::time::sleep(run.secs(3.0, 0.5)).await;
    stop.store(true, Ordering::Relaxed);
    let (longest_before, _) = before.await??;
    stop.store(false, Ordering::Relaxed);
    let during = tokio::spawn(longest_append(store, tenant, stop.clone()));
    let scope = RebuildScope::Forced {
        projection: projection("orderBoard").context("orderBoard")?,
        tenant: Some(tenant),
    };
    let (took, lock_held) = run_rebuild(phase, scope).await?;
    stop.store(true, Ordering::Relaxed);
    let (longest_during, appended) = during.await??;
    let rate = events as f64 / took.as_secs_f64();
    out.row(Row::new(
        "7",
        format!("rebuild of orderBoard, tenant with {events} events"),
        "events/s",
        rate,
    ));
    out.row(
        Row::new(
            "7",
            format!("longest append stall during that rebuild ({appended} appends)"),
            "ms",
            longest_during.as_secs_f64() * 1e3,
        )
        .raw(
            longest_before.as_secs_f64() * 1e3,
            "longest append of the same writer just before",
        ),
    );
    out.note(format!(
        "row 7 rebuild: {events} events in {:.1} s, lock held {:.1} ms in the switch; seeded in {:.1} s; the first build of all three views took {:.1} s",
        took.as_secs_f64(),
        lock_held.as_secs_f64() * 1e3,
        seeded_in.as_secs_f64(),
        initial.as_secs_f64()
    ));
    Ok(())
}

pub async fn run(run: &Run, out: &mut Findings) -> anyhow::Result<()> {
    let phase = Phase::new().await?;
    board(run, &phase, out).await?;
    rebuild_under_appends(run, &phase, out).await
}
