//! Row 4: event appends/s through the event-store adapter (1 and 8 writers;
//! one tenant and 100 tenants), beside a raw INSERT of the same event row, and
//! beside the same appends without the read models (the three projections).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use diesel_async::SimpleAsyncConnection;
use kitchen_adapters::config::DbRole;
use kitchen_adapters::postgres::PgEventStore;
use kitchen_domain::ports::EventStore;
use kitchen_domain::{AggregateId, TenantId, Version};
use kitchen_test_support::fixtures;
use uuid::Uuid;

use crate::cpu::CpuSample;
use crate::env::{Findings, Phase, Run};
use crate::load::{closed_loop, Op};
use crate::report::Row;

fn tenants(n: usize) -> Arc<Vec<TenantId>> {
    Arc::new((0..n).map(|_| TenantId::new_random()).collect())
}

/// One append of a new order's OrderCreated (with its snapshot).
fn adapter_op(store: PgEventStore, tenants: Arc<Vec<TenantId>>) -> Op {
    Arc::new(move |i| {
        let store = store.clone();
        let tenant = tenants[i as usize % tenants.len()];
        Box::pin(async move {
            let id = AggregateId::new_random();
            let event = fixtures::order_created(id);
            let snapshot = fixtures::created_snapshot(id);
            let started = Instant::now();
            store
                .append(
                    tenant,
                    &fixtures::order_stream(id),
                    Version::ZERO,
                    vec![event],
                    snapshot,
                )
                .await
                .context("append")?;
            Ok(started.elapsed())
        })
    })
}

/// The same event row in one INSERT (BEGIN; set tenant; INSERT; COMMIT in one
/// round trip), with a seq the writer makes up: no counter, no snapshot.
fn raw_op(pool: kitchen_adapters::postgres::PgPool, tenants: Arc<Vec<TenantId>>) -> Op {
    let payload = fixtures::order_created(AggregateId::new_random())
        .payload
        .to_string();
    Arc::new(move |i| {
        let pool = pool.clone();
        let tenant = tenants[i as usize % tenants.len()];
        let payload = payload.clone();
        Box::pin(async move {
            let sql = format!(
                "BEGIN; SELECT set_config('app.tenant_id', '{tenant}', true); \
                 INSERT INTO events (tenant_id, id, aggregate_type, aggregate_id, version, seq, type, payload, causation_id, correlation_id, metadata) \
                 VALUES ('{tenant}', '{}', 'order', '{}', 1, {}, 'OrderCreated', '{payload}', '{}', '{}', '{{}}'); COMMIT",
                Uuid::new_v4(),
                Uuid::new_v4(),
                i + 1,
                Uuid::new_v4(),
                Uuid::new_v4(),
            );
            let started = Instant::now();
            let mut conn = pool.get().await.context("raw pool")?;
            conn.batch_execute(&sql).await.context("raw insert")?;
            Ok(started.elapsed())
        })
    })
}

pub async fn run(run: &Run, out: &mut Findings) -> anyhow::Result<()> {
    let phase = Phase::new().await?;
    let duration = run.secs(4.0, 0.5);
    for (writers, tenant_count) in [(1u64, 1usize), (8, 1), (1, 100), (8, 100)] {
        let pool =
            kitchen_adapters::postgres::pool(&phase.db.url(DbRole::Worker), writers as usize)?;
        // Fresh tenants for each side, so raw seqs never meet the adapter's.
        let ours = adapter_op(PgEventStore::new(pool.clone()), tenants(tenant_count));
        // Raw seqs: the closed loop's op index is unique across its clients.
        let raw = raw_op(pool.clone(), tenants(tenant_count));
        let without_views = adapter_op(
            PgEventStore::new(pool).without_read_models(),
            tenants(tenant_count),
        );
        closed_loop(&ours, writers, Duration::ZERO, run.secs(0.3, 0.1)).await;
        let cpu = CpuSample::now();
        let ours_out = closed_loop(&ours, writers, Duration::ZERO, duration).await;
        let ours_cpu = cpu.split_until_now();
        let raw_out = closed_loop(&raw, writers, Duration::ZERO, duration).await;
        let bare_out = closed_loop(&without_views, writers, Duration::ZERO, duration).await;
        for (what, o) in [
            ("adapter", &ours_out),
            ("raw", &raw_out),
            ("without views", &bare_out),
        ] {
            if o.failed > 0 {
                bail!("{what} appends failed: {:?}", o.first_error);
            }
        }
        let p50 = |o: &crate::load::Outcome| o.latency.map(|p| p.p50_ms).unwrap_or(0.0);
        out.row(
            Row::new(
                "4",
                format!("event appends, {writers} writer(s), {tenant_count} tenant(s)"),
                "events/s",
                ours_out.per_sec(),
            )
            .raw(raw_out.per_sec(), "raw INSERT, same row"),
        );
        out.row(
            Row::new(
                "4",
                format!(
                    "event appends with the 3 projections, {writers} writer(s), {tenant_count} tenant(s)"
                ),
                "events/s",
                ours_out.per_sec(),
            )
            .raw(bare_out.per_sec(), "the same appends without read models"),
        );
        out.note(format!(
            "row 4 {writers}w/{tenant_count}t: append p50 {:.2} ms vs raw {:.2} ms; {ours_cpu}",
            p50(&ours_out),
            p50(&raw_out)
        ));
    }
    Ok(())
}
