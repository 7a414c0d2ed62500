//! Rows 2 and 3: POST -> event on a WebSocket, one at a time and at 50% and
//! 90% of the sustainable rate; and the sustainable rate itself (commands
//! driven to `succeeded`: the event arrives in the transaction that records
//! it). Beside each: the trivial workflow of the same shape on raw Temporal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use diesel::sql_types::{Double, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures_util::StreamExt;
use kitchen_adapters::config::DbRole;
use kitchen_domain::TenantId;
use secrecy::ExposeSecret;
use serde_json::json;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::cpu::CpuSample;
use crate::env::{create_order_payload, Findings, Phase, Run};
use crate::load::{check, closed_loop, one_at_a_time, open_loop, Op, Outcome};
use crate::raw_temporal::Raw;
use crate::report::Row;
use crate::stack::Service;
use crate::stats::Percentiles;
use crate::ws;

/// Closed-loop clients for the sustained rate: one tenant each.
pub const CLIENTS: u64 = 64;

pub type Waiters = Arc<Mutex<HashMap<Uuid, oneshot::Sender<Instant>>>>;

/// Our operation: POST createOrder for tenant `i % tenants`, resolve when its
/// OrderCreated arrives on that tenant's socket.
fn our_op(gateway: String, tokens: Arc<Vec<String>>, waiters: Waiters) -> Op {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS as usize)
        .build()
        .expect("http client");
    let url = format!("{gateway}/v1/commands");
    Arc::new(move |i| {
        let (http, url, waiters) = (http.clone(), url.clone(), waiters.clone());
        let token = tokens[i as usize % tokens.len()].clone();
        Box::pin(async move {
            let order = Uuid::new_v4();
            let (tx, rx) = oneshot::channel();
            waiters.lock().expect("waiters").insert(order, tx);
            let body = json!({"type": "createOrder", "payload": create_order_payload(order)});
            let started = Instant::now();
            let posted = http.post(&url).bearer_auth(token).json(&body).send().await;
            let status = posted.as_ref().map(|r| r.status().as_u16());
            if status.as_ref().ok() != Some(&202) {
                waiters.lock().expect("waiters").remove(&order);
                bail!("POST failed: {status:?}");
            }
            let received = tokio::time::timeout(Duration::from_secs(60), rx)
                .await
                .context("event not received within 60 s")?
                .context("socket reader stopped")?;
            Ok(received.saturating_duration_since(started))
        })
    })
}

/// One socket per tenant; each event frame wakes the waiter of its order.
pub async fn open_sockets(
    realtime: &str,
    tokens: &[String],
    waiters: &Waiters,
) -> anyhow::Result<()> {
    for token in tokens {
        let mut socket = ws::connect(realtime, token, 0).await?;
        ws::until_ready(&mut socket).await?;
        let waiters = waiters.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                let received = Instant::now();
                if let Message::Text(text) = message {
                    if let Some(head) = ws::parse(text.as_str()).and_then(|f| f.event) {
                        if let Some(tx) =
                            waiters.lock().expect("waiters").remove(&head.aggregate_id)
                        {
                            let _ = tx.send(received);
                        }
                    }
                }
            }
        });
    }
    Ok(())
}

fn latency_rows(
    out: &mut Findings,
    row: &'static str,
    what: &str,
    ours: &Outcome,
    raw: &Outcome,
    targets: bool,
) {
    let (Some(o), Some(r)) = (ours.latency, raw.latency) else {
        return;
    };
    for (name, ours_ms, raw_ms, max) in [
        ("p50", o.p50_ms, r.p50_ms, Some(30.0)),
        ("p95", o.p95_ms, r.p95_ms, None),
        ("p99", o.p99_ms, r.p99_ms, Some(80.0)),
    ] {
        let base = Row::new(
            row,
            format!("POST -> WebSocket event, {what}: {name}"),
            "ms",
            ours_ms,
        )
        .raw(raw_ms, "trivial workflow, same shape");
        out.row(match (targets, max) {
            (true, Some(max)) => base.at_most_and_ratio(max, 1.3),
            _ => base,
        });
    }
}

#[derive(diesel::QueryableByName)]
struct Gap {
    #[diesel(sql_type = Double)]
    gap_ms: f64,
}

/// Percentiles of the time from the gateway's transaction to the worker's
/// (from the rows' own timestamps: each is the start of the transaction that
/// wrote it) over the commands of `tenants` accepted since `since`: pump
/// pick-up, claim, workflow start, Temporal's task queue, the worker's queue
/// and the local activity's start. The rest of POST -> event is HTTP, the
/// worker's transaction and delivery to the socket.
pub async fn to_worker(
    phase: &Phase,
    tenants: &[TenantId],
    since: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Option<Percentiles>> {
    let mut conn =
        AsyncPgConnection::establish(phase.db.url(DbRole::Worker).expose_secret()).await?;
    let mut gaps = Vec::new();
    for tenant in tenants {
        conn.batch_execute(&format!(
            "BEGIN; SELECT set_config('app.tenant_id', '{tenant}', true)"
        ))
        .await?;
        let rows: Vec<Gap> = diesel::sql_query(
            "SELECT extract(epoch FROM e.created_at - c.created_at)::float8 * 1000 AS gap_ms
             FROM commands c JOIN events e ON e.causation_id = c.id
             WHERE c.created_at >= $1",
        )
        .bind::<Timestamptz, _>(since)
        .load(&mut conn)
        .await?;
        conn.batch_execute("COMMIT").await?;
        gaps.extend(
            rows.iter()
                .map(|r| Duration::from_secs_f64(r.gap_ms.max(0.0) / 1000.0)),
        );
    }
    Ok(Percentiles::of(&mut gaps))
}

/// "gateway -> worker transaction p50 X ms, p95 Y ms" for a note.
pub fn to_worker_note(gaps: Option<Percentiles>) -> String {
    gaps.map(|p| {
        format!(
            "gateway -> worker transaction p50 {:.1} ms, p95 {:.1} ms",
            p.p50_ms, p.p95_ms
        )
    })
    .unwrap_or_default()
}

pub async fn run(run: &Run, out: &mut Findings) -> anyhow::Result<()> {
    let mut phase = Phase::new().await?;
    // Rows 2-3 measure the pipeline itself, past its sustainable rate too:
    // no shedding here (row 9 measures it with shedding on).
    phase.settings.overload.max_open_commands = 0;
    phase.settings.overload.max_head_wait_ms = 0;
    phase.settings.overload.max_oldest_due_ms = 0;
    phase.settings.overload.max_in_flight_commands = 0;
    // Enough samples that p99 is not one or two outliers.
    let light_n = run.size(500, 20);
    let sustained_for = run.secs(10.0, 2.0);
    let rate_for = run.secs(10.0, 2.0);
    let warmup = run.secs(3.0, 1.0);

    // Raw Temporal on a task queue of its own, and our stack (the four services
    // as processes), both up before anything is measured.
    let raw_baseline = Raw::start(&phase.settings.temporal).await?;
    let raw = raw_baseline.op();
    let gateway = Service::start("command-gateway", &phase.settings, &run.log_dir).await?;
    let _pump = Service::start("command-pump", &phase.settings, &run.log_dir).await?;
    let _worker = Service::start("worker", &phase.settings, &run.log_dir).await?;
    let realtime = Service::start("realtime", &phase.settings, &run.log_dir).await?;
    let tenants: Vec<TenantId> = phase.db.active_tenants(CLIENTS as usize).await;
    let tokens: Arc<Vec<String>> = Arc::new(tenants.iter().map(|t| phase.token(*t)).collect());
    let waiters: Waiters = Arc::default();
    open_sockets(&realtime.ws_base(), &tokens, &waiters).await?;
    let ours = our_op(gateway.http_base(), tokens.clone(), waiters.clone());
    // One tenant for the light run, so its rows give the breakdown below.
    let first_tenant: Op = {
        let ours = ours.clone();
        Arc::new(move |_| ours(0))
    };
    check("raw warm-up", &one_at_a_time(&raw, 20).await)?;
    check("warm-up", &one_at_a_time(&ours, 2 * CLIENTS).await)?;

    let raw_light = one_at_a_time(&raw, light_n).await;
    let started_at = chrono::Utc::now();
    check("raw one at a time", &raw_light)?;
    let light = one_at_a_time(&first_tenant, light_n).await;
    check("one at a time", &light)?;
    let light_gaps = to_worker(&phase, &tenants[..1], started_at).await?;

    // Sustained, alternating raw and ours in halves (A B A B): the shared
    // Temporal server drifts as its in-memory history grows, and both should
    // see the same drift.
    let half = sustained_for / 2;
    let (mut raw_halves, mut our_halves) = (Vec::new(), Vec::new());
    let (mut raw_cpu, mut ours_cpu) = (String::new(), String::new());
    for _ in 0..2 {
        let cpu = CpuSample::now();
        raw_halves.push(closed_loop(&raw, CLIENTS, warmup, half).await);
        raw_cpu = cpu.split_until_now();
        let cpu = CpuSample::now();
        our_halves.push(closed_loop(&ours, CLIENTS, warmup, half).await);
        ours_cpu = cpu.split_until_now();
    }
    let raw_sustained = Outcome::combined(&raw_halves);
    check("raw sustained", &raw_sustained)?;
    let sustained = Outcome::combined(&our_halves);
    check("sustained", &sustained)?;

    latency_rows(out, "2", "one at a time", &light, &raw_light, true);
    if let Some(p) = light_gaps {
        out.note(format!(
            "row 2 one at a time: median {:.1} ms (p99 {:.1} ms) from the gateway's transaction to the worker's (from \
             the rows' timestamps: pump pick-up, claim, workflow start, task dispatch, local activity start); the rest \
             is HTTP, the worker's transaction and delivery to the socket",
            p.p50_ms, p.p99_ms
        ));
    }
    for fraction in [0.5, 0.9] {
        let rate = sustained.per_sec() * fraction;
        let cpu = CpuSample::now();
        let since = chrono::Utc::now();
        let ours_at = open_loop(&ours, rate, rate_for).await;
        let ours_cpu = cpu.split_until_now();
        check("ours at rate", &ours_at)?;
        let gaps = to_worker(&phase, &tenants, since).await?;
        let raw_at = open_loop(&raw, rate, rate_for).await;
        check("raw at rate", &raw_at)?;
        let what = format!("{:.0}% of sustainable ({rate:.0}/s)", fraction * 100.0);
        latency_rows(out, "2", &what, &ours_at, &raw_at, false);
        out.note(format!(
            "row 2 at {what}: {}; {ours_cpu}",
            to_worker_note(gaps)
        ));
    }
    out.row(
        Row::new(
            "3",
            format!("sustained commands/s to succeeded, {CLIENTS} clients"),
            "cmd/s",
            sustained.per_sec(),
        )
        .raw(
            raw_sustained.per_sec(),
            "trivial workflows/s, same shape and clients",
        )
        .ratio_at_least(0.80),
    );
    out.note(format!(
        "row 3 (A B A B halves of {:.0} s after {:.0} s warm-up each): ours {:.1} + {:.1} cmd/s, raw {:.1} + {:.1} wf/s",
        half.as_secs_f64(),
        warmup.as_secs_f64(),
        our_halves[0].per_sec(),
        our_halves[1].per_sec(),
        raw_halves[0].per_sec(),
        raw_halves[1].per_sec()
    ));
    out.note(format!("row 3 ours (second half): {ours_cpu}"));
    out.note(format!("row 3 raw Temporal (second half): {raw_cpu}"));
    Ok(())
}
