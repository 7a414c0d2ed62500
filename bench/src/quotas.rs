//! Rows 8 and 9 (issue 15). Row 8: a quiet tenant's POST -> event one at a
//! time, unloaded and then while a noisy tenant floods (a backlog inserted in
//! bulk plus clients posting as fast as they are answered, past its quotas),
//! same run, default quotas. Row 9: open loops at 50% and 90% of the
//! sustainable rate with overload shedding on (base.toml's rules): POST ->
//! event of the accepted commands beside raw Temporal at the same offered
//! load, and the fraction shed (503 `overloaded`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::json;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::cpu::CpuSample;
use crate::e2e::{open_sockets, to_worker, to_worker_note, Waiters, CLIENTS};
use crate::env::{create_order_payload, Findings, Phase, Run};
use crate::load::{check, closed_loop, one_at_a_time, open_loop, Op, Outcome};
use crate::raw_temporal::Raw;
use crate::report::Row;
use crate::stack::Service;

/// POST createOrder for tenant `i % tenants`, resolved when its event reaches
/// the tenant's socket. A 503 is counted in `shed` (and fails the operation,
/// so only accepted commands give latencies).
fn op(gateway: String, tokens: Arc<Vec<String>>, waiters: Waiters, shed: Arc<AtomicU64>) -> Op {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS as usize)
        .build()
        .expect("http client");
    let url = format!("{gateway}/v1/commands");
    Arc::new(move |i| {
        let (http, url, waiters, shed) = (http.clone(), url.clone(), waiters.clone(), shed.clone());
        let token = tokens[i as usize % tokens.len()].clone();
        Box::pin(async move {
            let order = Uuid::new_v4();
            let (tx, rx) = oneshot::channel();
            waiters.lock().expect("waiters").insert(order, tx);
            let body = json!({"type": "createOrder", "payload": create_order_payload(order)});
            let started = Instant::now();
            let status = http
                .post(&url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .map(|r| r.status().as_u16());
            if status.as_ref().ok() != Some(&202) {
                waiters.lock().expect("waiters").remove(&order);
                if status.as_ref().ok() == Some(&503) {
                    shed.fetch_add(1, Ordering::Relaxed);
                    bail!("shed (503)");
                }
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

/// The four services of `phase`, started as processes.
async fn stack(phase: &Phase, run: &Run) -> anyhow::Result<Vec<Service>> {
    Ok(vec![
        Service::start("command-gateway", &phase.settings, &run.log_dir).await?,
        Service::start("command-pump", &phase.settings, &run.log_dir).await?,
        Service::start("worker", &phase.settings, &run.log_dir).await?,
        Service::start("realtime", &phase.settings, &run.log_dir).await?,
    ])
}

/// How the noisy tenant's clients treat a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Noisy {
    /// Post again at once, whatever the answer: a hostile tenant.
    Hostile,
    /// Wait the refusal's `Retry-After`, as the SDK does.
    Polite,
}

impl Noisy {
    fn label(self) -> &'static str {
        match self {
            Noisy::Hostile => "posting again at once on 429 (hostile)",
            Noisy::Polite => "waiting Retry-After on 429 (as the SDK does)",
        }
    }
}

/// Clients posting as the noisy tenant as fast as they are answered (or as
/// `Retry-After` lets a polite one), until `stop`; counts 202, 429 and
/// anything else.
fn flood(
    gateway: String,
    token: String,
    clients: usize,
    noisy: Noisy,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<[u64; 3]>> {
    let http = reqwest::Client::new();
    (0..clients)
        .map(|_| {
            let (http, token, stop) = (http.clone(), token.clone(), stop.clone());
            let url = format!("{gateway}/v1/commands");
            tokio::spawn(async move {
                let mut counts = [0u64; 3];
                while !stop.load(Ordering::Relaxed) {
                    let body = json!({"type": "createOrder", "payload": create_order_payload(Uuid::new_v4())});
                    let answer = http.post(&url).bearer_auth(&token).json(&body).send().await;
                    let retry_after = answer.as_ref().ok().and_then(|r| {
                        r.headers()
                            .get(reqwest::header::RETRY_AFTER)?
                            .to_str()
                            .ok()?
                            .parse::<u64>()
                            .ok()
                    });
                    match answer.map(|r| r.status().as_u16()) {
                        Ok(202) => counts[0] += 1,
                        Ok(429) => counts[1] += 1,
                        _ => counts[2] += 1,
                    }
                    if let (Noisy::Polite, Some(secs)) = (noisy, retry_after) {
                        // In short steps, so `stop` is seen within 100 ms.
                        for _ in 0..secs * 10 {
                            if stop.load(Ordering::Relaxed) {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
                counts
            })
        })
        .collect()
}

/// The gateway's `kitchen_commands_shed_total` series, by rule.
async fn shed_counts(gateway: &str) -> String {
    let text = match reqwest::get(format!("{gateway}/metrics")).await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(e) => return format!("metrics unreadable: {e}"),
    };
    text.lines()
        .filter(|l| l.starts_with("kitchen_commands_shed_total"))
        .map(|l| {
            l.trim_start_matches("kitchen_commands_shed_total")
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn noisy_neighbour(run: &Run, out: &mut Findings) -> anyhow::Result<()> {
    let mut phase = Phase::new().await?;
    if run.smoke {
        // A debug build's workflow starts take 10-100x longer: saturated by
        // the noisy tenant, the pump's head wait passes 1 s and the gateway
        // would rightly shed everyone. The smoke run checks the row works.
        phase.settings.overload.max_head_wait_ms = 10_000;
        // And a debug worker runs ~10x fewer commands/s: with the full open
        // bound (2,000) the noisy tenant's started workflows, ahead of the
        // quiet one's in Temporal's one FIFO task queue, take minutes.
        phase.settings.quotas.max_open_commands = 100;
    }
    let n = run.size(300, 10);
    let backlog = run.size(2000, 50);
    let flooders = run.size(8, 1);
    let services = stack(&phase, run).await?;
    let (gateway, realtime) = (&services[0], &services[3]);
    let quiet = phase.db.active_tenant().await;
    let noisy = phase.db.active_tenant().await;
    let tokens = Arc::new(vec![phase.token(quiet)]);
    let waiters: Waiters = Arc::default();
    open_sockets(&realtime.ws_base(), &tokens, &waiters).await?;
    let shed = Arc::new(AtomicU64::new(0));
    let quiet_op = op(gateway.http_base(), tokens, waiters, shed.clone());
    check("warm-up", &one_at_a_time(&quiet_op, 20).await)?;
    let since = chrono::Utc::now();
    let unloaded = one_at_a_time(&quiet_op, n).await;
    check("quiet, unloaded", &unloaded)?;
    out.note(format!(
        "row 8, quiet tenant unloaded: {}",
        to_worker_note(to_worker(&phase, &[quiet], since).await?)
    ));

    phase.db.insert_pending_orders(noisy, backlog).await;
    // The hostile tenant first, then the polite one: each phase starts with
    // the noisy tenant's backlog at its open bound (the hostile flood refills
    // it as fast as it drains).
    for kind in [Noisy::Hostile, Noisy::Polite] {
        let stop = Arc::new(AtomicBool::new(false));
        let clients = flood(
            gateway.http_base(),
            phase.token(noisy),
            flooders,
            kind,
            stop.clone(),
        );
        let shed_before = shed_counts(&gateway.http_base()).await;
        let cpu = CpuSample::now();
        let since = chrono::Utc::now();
        let loaded = one_at_a_time(&quiet_op, n).await;
        let loaded_cpu = cpu.split_until_now();
        stop.store(true, Ordering::Relaxed);
        let mut noisy_counts = [0u64; 3];
        for client in clients {
            let counts = client.await?;
            for (total, c) in noisy_counts.iter_mut().zip(counts) {
                *total += c;
            }
        }
        let shed_by_rule = shed_counts(&gateway.http_base()).await;
        out.note(format!(
            "row 8, quiet tenant beside a noisy one {}: {}",
            kind.label(),
            to_worker_note(to_worker(&phase, &[quiet], since).await?)
        ));
        out.note(format!(
            "row 8, noisy tenant {}: {backlog} commands inserted in bulk before the first phase, then {flooders} \
             clients: {} accepted, {} refused 429, {} other; the quiet tenant {n} one at a time, {} refused or lost; \
             shed by the gateway: [{shed_before}] before, [{shed_by_rule}] after; pump cap {} commands in flight \
             per tenant; while loaded: {loaded_cpu}",
            kind.label(),
            noisy_counts[0],
            noisy_counts[1],
            noisy_counts[2],
            loaded.failed,
            phase.settings.pump.max_in_flight_per_tenant,
        ));
        // The quiet tenant must never be refused: one refusal fails the row.
        check("quiet, beside the noisy tenant", &loaded)?;
        let (Some(l), Some(u)) = (loaded.latency, unloaded.latency) else {
            bail!("no latencies");
        };
        for (name, ours, alone) in [("p50", l.p50_ms, u.p50_ms), ("p95", l.p95_ms, u.p95_ms)] {
            let row = Row::new(
                "8",
                format!(
                    "quiet tenant POST -> WebSocket event, noisy tenant {}: {name}",
                    kind.label()
                ),
                "ms",
                ours,
            )
            .raw(alone, "the same tenant unloaded, same run");
            out.row(if name == "p95" {
                row.ratio_at_most(2.0)
            } else {
                row
            });
        }
    }
    Ok(())
}

/// Row 9's bound on commands in flight across tenants
/// (`overload.max_in_flight_commands`); KITCHEN_BENCH_ROW9_IN_FLIGHT overrides it.
const ROW9_IN_FLIGHT: u32 = 4;

pub async fn overload(run: &Run, out: &mut Findings) -> anyhow::Result<()> {
    let mut phase = Phase::new().await?;
    let in_flight_bound: u32 = std::env::var("KITCHEN_BENCH_ROW9_IN_FLIGHT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ROW9_IN_FLIGHT);
    // Read the load often enough to see a queue of that size form (at ~80
    // commands/s, 16 arrive in 200 ms): one cheap query every 50 ms.
    phase.settings.overload.refresh_ms = 50;
    let sustained_for = run.secs(8.0, 2.0);
    let rate_for = run.secs(10.0, 2.0);
    let warmup = run.secs(3.0, 1.0);
    let raw_baseline = Raw::start(&phase.settings.temporal).await?;
    let raw = raw_baseline.op();
    let services = stack(&phase, run).await?;
    let (gateway, realtime) = (&services[0], &services[3]);
    let tenants = phase.db.active_tenants(CLIENTS as usize).await;
    let tokens: Arc<Vec<String>> = Arc::new(tenants.iter().map(|t| phase.token(*t)).collect());
    let waiters: Waiters = Arc::default();
    open_sockets(&realtime.ws_base(), &tokens, &waiters).await?;
    let shed = Arc::new(AtomicU64::new(0));
    // The sustainable rate is the pipeline's, measured through a gateway
    // without the in-flight bound (closed-loop clients would otherwise only
    // measure the bound); the open-loop phases go through a second gateway
    // with it, the one under test.
    let unbounded = op(
        gateway.http_base(),
        tokens.clone(),
        waiters.clone(),
        shed.clone(),
    );
    let bound = [(
        "KITCHEN__OVERLOAD__MAX_IN_FLIGHT_COMMANDS",
        in_flight_bound.to_string(),
    )];
    let shedding =
        Service::start_with("command-gateway", &phase.settings, &run.log_dir, &bound).await?;
    let ours = op(shedding.http_base(), tokens, waiters, shed.clone());
    check("raw warm-up", &one_at_a_time(&raw, 20).await)?;
    check("warm-up", &one_at_a_time(&ours, 2 * CLIENTS).await)?;
    let sustained = closed_loop(&unbounded, CLIENTS, warmup, sustained_for).await;
    let sustainable = sustained.per_sec();
    out.note(format!(
        "row 9: sustainable rate {sustainable:.0} cmd/s ({CLIENTS} closed-loop clients, the other rules on; \
         {} shed); the phases below with overload.max_in_flight_commands = {in_flight_bound}, refresh_ms = {}",
        shed.swap(0, Ordering::Relaxed),
        phase.settings.overload.refresh_ms,
    ));
    for (fraction, ratio) in [(0.5, 1.1), (0.9, 1.5)] {
        let rate = sustainable * fraction;
        shed.store(0, Ordering::Relaxed);
        let since = chrono::Utc::now();
        let cpu = CpuSample::now();
        let ours_at: Outcome = open_loop(&ours, rate, rate_for).await;
        let ours_cpu = cpu.split_until_now();
        let shed_now = shed.load(Ordering::Relaxed);
        let offered = ours_at.completed + ours_at.failed;
        if ours_at.failed > shed_now {
            bail!(
                "ours at {rate:.0}/s: {} failed other than shed: {:?}",
                ours_at.failed - shed_now,
                ours_at.first_error
            );
        }
        let gaps = to_worker(&phase, &tenants, since).await?;
        let raw_at = open_loop(&raw, rate, rate_for).await;
        check("raw at rate", &raw_at)?;
        let what = format!("{:.0}% of sustainable ({rate:.0}/s)", fraction * 100.0);
        out.note(format!(
            "row 9 at {what}: {}; {ours_cpu}",
            to_worker_note(gaps)
        ));
        if let (Some(o), Some(r)) = (ours_at.latency, raw_at.latency) {
            out.row(
                Row::new(
                    "9",
                    format!(
                        "POST -> WebSocket event of accepted commands, shedding on, {what}: p95"
                    ),
                    "ms",
                    o.p95_ms,
                )
                .raw(r.p95_ms, "trivial workflow, same offered load")
                .ratio_at_most(ratio),
            );
        }
        out.row(Row::new(
            "9",
            format!("shed (503 overloaded), {what}"),
            "%",
            100.0 * shed_now as f64 / offered.max(1) as f64,
        ));
    }
    Ok(())
}
