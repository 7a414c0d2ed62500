//! Row 1: commands/s the gateway answers 202 with N concurrent HTTP clients,
//! beside the same row inserted (with its NOTIFY) straight through a pool.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use diesel_async::SimpleAsyncConnection;
use kitchen_adapters::config::DbRole;
use kitchen_domain::TenantId;
use serde_json::json;
use uuid::Uuid;

use crate::cpu::CpuSample;
use crate::env::{create_order_payload, Findings, Phase, Run};
use crate::load::{closed_loop, Op};
use crate::report::Row;
use crate::stack::Service;

const CLIENTS: u64 = 16;
const TENANTS: usize = 100;

pub async fn run(run: &Run, out: &mut Findings) -> anyhow::Result<()> {
    let mut phase = Phase::new().await?;
    // No pump runs here: every accepted command stays open, and the global
    // open bound (overload.max_open_commands) would shed the row's own load.
    phase.settings.overload.max_open_commands = 0;
    let duration = run.secs(5.0, 1.0);
    let tenants: Arc<Vec<TenantId>> = Arc::new(phase.db.active_tenants(TENANTS).await);

    // Raw: BEGIN; set tenant; INSERT; COMMIT in one round trip, 16 connections.
    let pool = kitchen_adapters::postgres::pool(&phase.db.url(DbRole::Gateway), CLIENTS as usize)?;
    let raw: Op = {
        let tenants = tenants.clone();
        Arc::new(move |i| {
            let pool = pool.clone();
            let tenant = tenants[i as usize % TENANTS];
            Box::pin(async move {
                let payload = create_order_payload(Uuid::new_v4());
                let sql = format!(
                    "BEGIN; SELECT set_config('app.tenant_id', '{tenant}', true); \
                     INSERT INTO commands (tenant_id, id, type, payload, aggregate_id, user_id, correlation_id, metadata) \
                     VALUES ('{tenant}', '{}', 'createOrder', '{payload}', '{}', 'user-1', '{}', '{{}}'); COMMIT",
                    Uuid::new_v4(),
                    payload["orderId"].as_str().unwrap_or_default(),
                    Uuid::new_v4(),
                );
                let started = Instant::now();
                let mut conn = pool.get().await.context("raw pool")?;
                conn.batch_execute(&sql).await.context("raw insert")?;
                Ok(started.elapsed())
            })
        })
    };
    closed_loop(&raw, CLIENTS, Duration::ZERO, run.secs(0.5, 0.2)).await; // warm the connections
    let cpu = CpuSample::now();
    let raw_out = closed_loop(&raw, CLIENTS, Duration::ZERO, duration).await;
    let raw_cpu = cpu.split_until_now();
    if raw_out.failed > 0 {
        bail!("raw inserts failed: {:?}", raw_out.first_error);
    }

    let tokens: Arc<Vec<String>> = Arc::new(tenants.iter().map(|t| phase.token(*t)).collect());
    // The row (quotas on, as deployed) alternates with the same gateway
    // without the tenant's open bound (no count in the insert), then without
    // the rate quota too: what each costs, same run. Each later gateway faces
    // a bigger table (no pump: every accepted command stays open), so the
    // order is A B A B C and the row is the mean of its two halves.
    let bound_off = [("KITCHEN__QUOTAS__MAX_OPEN_COMMANDS", "0".to_owned())];
    let quotas_off = [
        ("KITCHEN__QUOTAS__MAX_OPEN_COMMANDS", "0".to_owned()),
        ("KITCHEN__QUOTAS__COMMANDS_PER_SEC", "0".to_owned()),
    ];
    let half = duration / 2;
    let (on_1, ours_cpu) = accept(run, &phase, &tokens, &[], half).await?;
    let (off_1, _) = accept(run, &phase, &tokens, &bound_off, half).await?;
    let (on_2, _) = accept(run, &phase, &tokens, &[], half).await?;
    let (off_2, _) = accept(run, &phase, &tokens, &bound_off, half).await?;
    let (no_quotas, _) = accept(run, &phase, &tokens, &quotas_off, half).await?;
    let ours_out = crate::load::Outcome::combined(&[on_1.clone(), on_2.clone()]);
    out.row(
        Row::new(
            "1",
            format!("gateway accept, {CLIENTS} HTTP clients, {TENANTS} tenants"),
            "cmd/s",
            ours_out.per_sec(),
        )
        .raw(raw_out.per_sec(), "INSERT + NOTIFY via pool, 1 round trip")
        .ratio_at_least(0.70),
    );
    let lat = |o: &crate::load::Outcome| {
        o.latency
            .map(|p| format!("p50 {:.2} ms, p99 {:.2} ms", p.p50_ms, p.p99_ms))
            .unwrap_or_default()
    };
    out.note(format!(
        "row 1 gateway: {} per POST (first half); {ours_cpu}",
        lat(&on_1)
    ));
    out.note(format!(
        "row 1 raw insert: {} per insert; {raw_cpu}",
        lat(&raw_out)
    ));
    let ratio = |o: &crate::load::Outcome| o.per_sec() / raw_out.per_sec();
    out.note(format!(
        "row 1 A/B, same run (A B A B C, {:.1} s each): quotas on {:.0} / {:.0} cmd/s (ratios {:.2} / {:.2}), \
         open bound off {:.0} / {:.0} cmd/s (ratios {:.2} / {:.2}), open bound and rate quota off {:.0} cmd/s \
         (ratio {:.2})",
        half.as_secs_f64(),
        on_1.per_sec(),
        on_2.per_sec(),
        ratio(&on_1),
        ratio(&on_2),
        off_1.per_sec(),
        off_2.per_sec(),
        ratio(&off_1),
        ratio(&off_2),
        no_quotas.per_sec(),
        ratio(&no_quotas),
    ));
    Ok(())
}

/// A gateway of its own (`extra` settings), warmed, then `CLIENTS` closed
/// loops of POSTs for `duration`: what it accepted and the CPU split.
async fn accept(
    run: &Run,
    phase: &Phase,
    tokens: &Arc<Vec<String>>,
    extra: &[(&str, String)],
    duration: Duration,
) -> anyhow::Result<(crate::load::Outcome, String)> {
    let gateway =
        Service::start_with("command-gateway", &phase.settings, &run.log_dir, extra).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS as usize)
        .build()?;
    let tokens = tokens.clone();
    let url = format!("{}/v1/commands", gateway.http_base());
    let ours: Op = Arc::new(move |i| {
        let http = http.clone();
        let url = url.clone();
        let token = tokens[i as usize % TENANTS].clone();
        Box::pin(async move {
            let body =
                json!({"type": "createOrder", "payload": create_order_payload(Uuid::new_v4())});
            let started = Instant::now();
            let response = http
                .post(&url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await?;
            if response.status().as_u16() != 202 {
                bail!(
                    "gateway answered {}: {}",
                    response.status(),
                    response.text().await?
                );
            }
            Ok(started.elapsed())
        })
    });
    closed_loop(&ours, CLIENTS, Duration::ZERO, run.secs(0.5, 0.2)).await;
    let cpu = CpuSample::now();
    let ours_out = closed_loop(&ours, CLIENTS, Duration::ZERO, duration).await;
    let ours_cpu = cpu.split_until_now();
    if ours_out.failed > 0 {
        bail!("posts failed: {:?}", ours_out.first_error);
    }
    Ok((ours_out, ours_cpu))
}
