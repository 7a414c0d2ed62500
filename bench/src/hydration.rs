//! Row 6: `GET /v1/snapshot` of a tenant with 10k orders, once with 10k events
//! and once with 1M events (100 per order): the time should not grow with the
//! event count. Beside it: the same rows read by one raw SQL query.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use kitchen_adapters::config::DbRole;
use kitchen_domain::TenantId;
use secrecy::ExposeSecret;

use crate::env::{Findings, Phase, Run};
use crate::report::Row;
use crate::seed::{self, Snapshots};
use crate::stack::Service;
use crate::stats::Percentiles;

/// Rows per INSERT statement while seeding.
async fn time_snapshot(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    orders: usize,
    seq: usize,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let response = http.get(url).bearer_auth(token).send().await?;
    if !response.status().is_success() {
        bail!("snapshot answered {}", response.status());
    }
    // Timed until the last byte arrives; the bench's own parsing is not the server's cost.
    let bytes = response.bytes().await?;
    let took = started.elapsed();
    let body: serde_json::Value = serde_json::from_slice(&bytes)?;
    let count = body["aggregates"].as_array().map(Vec::len).unwrap_or(0);
    if count != orders || body["seq"].as_u64() != Some(seq as u64) {
        bail!(
            "snapshot had {count} aggregates at seq {}, expected {orders} at {seq}",
            body["seq"]
        );
    }
    Ok(took)
}

async fn time_raw(phase: &Phase, tenant: TenantId) -> anyhow::Result<Duration> {
    let mut conn =
        AsyncPgConnection::establish(phase.db.url(DbRole::Gateway).expose_secret()).await?;
    let started = Instant::now();
    conn.batch_execute(&format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT set_config('app.tenant_id', '{tenant}', true);
         SELECT last_seq FROM tenant_sequences WHERE tenant_id = '{tenant}';
         SELECT id, type, snapshot, version, seq FROM aggregates WHERE tenant_id = '{tenant}' ORDER BY seq; COMMIT"
    ))
    .await?;
    Ok(started.elapsed())
}

pub async fn run(run: &Run, out: &mut Findings) -> anyhow::Result<()> {
    let phase = Phase::new().await?;
    let orders = run.size(10_000, 1_000);
    let gateway = Service::start("command-gateway", &phase.settings, &run.log_dir).await?;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/snapshot", gateway.http_base());
    let samples = run.size(20, 3);
    for per_order in [1, run.size(100, 10)] {
        let tenant = phase.db.active_tenant().await;
        let seeding = Instant::now();
        seed::orders(&phase, tenant, orders, per_order, Snapshots::Current).await?;
        let seeded_in = seeding.elapsed();
        let token = phase.token(tenant);
        let seq = orders * per_order;
        time_snapshot(&http, &url, &token, orders, seq).await?; // warm-up
        let mut ours = Vec::new();
        let mut raw = Vec::new();
        for _ in 0..samples {
            ours.push(time_snapshot(&http, &url, &token, orders, seq).await?);
            raw.push(time_raw(&phase, tenant).await?);
        }
        let ours = Percentiles::of(&mut ours).context("samples")?;
        let raw = Percentiles::of(&mut raw).context("samples")?;
        out.row(
            Row::new(
                "6",
                format!("GET /v1/snapshot, {orders} orders, {seq} events: p50"),
                "ms",
                ours.p50_ms,
            )
            .raw(raw.p50_ms, "the same rows by one SQL query")
            .at_most(100.0),
        );
        out.note(format!(
            "row 6 {orders} orders / {seq} events: max {:.1} ms over {samples} requests (seeded in {:.1} s)",
            ours.max_ms,
            seeded_in.as_secs_f64()
        ));
    }
    Ok(())
}
