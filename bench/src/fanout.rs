//! Row 5: fan-out through realtime. Sockets on one tenant (1, 100, 1,000) and
//! 1,000 sockets over 1,000 tenants: commit -> delivery at a light paced rate,
//! messages/s delivered when writers append as fast as they can, and the
//! process RSS per idle socket at 1k and 10k sockets. Events are appended
//! through the event store directly, so only realtime is measured. Each figure
//! is measured again, same load and same clients, on the raw fan-out server
//! (`raw_fanout`): that is its raw limit.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::collections::HashMap;

use anyhow::{bail, Context};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures_util::{stream, StreamExt};
use kitchen_adapters::config::DbRole;
use kitchen_adapters::postgres::notify::parse_events_notification;
use kitchen_adapters::postgres::PgEventStore;
use kitchen_domain::ports::EventStore;
use kitchen_domain::{AggregateId, NewEvent, TenantId, Version};
use kitchen_test_support::fixtures;
use secrecy::ExposeSecret;
use tokio_tungstenite::tungstenite::Message;

use crate::cpu::CpuSample;
use crate::env::{Findings, Phase, Run};
use crate::histogram::Histogram;
use crate::raw_fanout::RawFanout;
use crate::report::Row;
use crate::stack::{self, Service};
use crate::stats::Percentiles;
use crate::ws;

/// Commit instants per tenant and seq, as nanoseconds since `epoch` (0 = not yet).
struct Commits {
    epoch: Instant,
    per_tenant: Vec<Vec<AtomicU64>>,
}

impl Commits {
    fn new(tenants: usize, seqs: usize) -> Commits {
        Commits {
            epoch: Instant::now(),
            per_tenant: (0..tenants)
                .map(|_| (0..=seqs).map(|_| AtomicU64::new(0)).collect())
                .collect(),
        }
    }
    fn nanos(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_nanos() as u64
    }
    fn set(&self, tenant: usize, seq: i64, at: Instant) {
        if let Some(slot) = self.per_tenant[tenant].get(seq as usize) {
            slot.store(self.nanos(at), Ordering::Relaxed);
        }
    }
    fn get(&self, tenant: usize, seq: i64) -> Option<u64> {
        let v = self.per_tenant[tenant]
            .get(seq as usize)?
            .load(Ordering::Relaxed);
        (v != 0).then_some(v)
    }
}

/// What the socket tasks share.
struct Board {
    commits: Commits,
    latency: Histogram,
    /// Record latencies (light phase) or only count (throughput phase).
    timing: AtomicBool,
    delivered: AtomicU64,
    /// Bytes of the text frames counted in `delivered`.
    bytes: AtomicU64,
    closed: AtomicU64,
}

impl Board {
    fn new(commits: Commits, timing: bool) -> Board {
        Board {
            commits,
            latency: Histogram::default(),
            timing: AtomicBool::new(timing),
            delivered: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            closed: AtomicU64::new(0),
        }
    }
}

/// The tenants of a configuration and their tokens.
struct Tenants {
    ids: Vec<TenantId>,
    tokens: Vec<String>,
}

impl Tenants {
    async fn new(phase: &Phase, count: usize) -> Arc<Tenants> {
        let ids: Vec<TenantId> = phase.db.active_tenants(count).await;
        let tokens = ids.iter().map(|t| phase.token(*t)).collect();
        Arc::new(Tenants { ids, tokens })
    }
}

/// Connects `count` sockets, socket j on tenant j % tenants, each drained by a
/// task until the server closes it. Returns once every socket is ready. The
/// URL also names the tenant in the clear for the raw server (realtime takes
/// it from the token only and ignores the parameter).
async fn connect_sockets(
    ws_base: &str,
    tenants: &Arc<Tenants>,
    count: usize,
    board: &Arc<Board>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let results: Vec<anyhow::Result<tokio::task::JoinHandle<()>>> = stream::iter(0..count)
        .map(|j| {
            let tenants = tenants.clone();
            let board = board.clone();
            let ws_base = ws_base.to_owned();
            async move {
                let tenant = j % tenants.ids.len();
                let url = format!(
                    "{ws_base}/v1/stream?after=0&access_token={}&tenant={}",
                    tenants.tokens[tenant], tenants.ids[tenant]
                );
                let mut socket = ws::connect_url(&url).await?;
                ws::until_ready(&mut socket).await?;
                Ok(tokio::spawn(async move {
                    while let Some(Ok(message)) = socket.next().await {
                        let received = Instant::now();
                        match message {
                            Message::Text(text) => {
                                board.delivered.fetch_add(1, Ordering::Relaxed);
                                board.bytes.fetch_add(text.len() as u64, Ordering::Relaxed);
                                if board.timing.load(Ordering::Relaxed) {
                                    if let Some(head) =
                                        ws::parse(text.as_str()).and_then(|f| f.event)
                                    {
                                        let at = board.commits.nanos(received);
                                        let commit =
                                            board.commits.get(tenant, head.seq).unwrap_or(at);
                                        board.latency.record(at.saturating_sub(commit));
                                    }
                                }
                            }
                            Message::Close(_) => break,
                            _ => {}
                        }
                    }
                    board.closed.fetch_add(1, Ordering::Relaxed);
                }))
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    results.into_iter().collect()
}

/// The raw limit of commit -> delivery: a bare LISTEN connection on `events`,
/// timing each notification against the writer's commit (same clock, same
/// commits table as the sockets).
fn raw_listener(
    phase: &Phase,
    tenants: &[TenantId],
    board: Arc<Board>,
    raw: Arc<Histogram>,
) -> tokio::task::JoinHandle<()> {
    let url = phase.db.url(DbRole::Realtime);
    let index: HashMap<uuid::Uuid, usize> = tenants
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_uuid(), i))
        .collect();
    tokio::spawn(async move {
        let Ok(mut conn) = AsyncPgConnection::establish(url.expose_secret()).await else {
            return;
        };
        if conn.batch_execute("LISTEN events").await.is_err() {
            return;
        }
        let mut notes = std::pin::pin!(conn.notifications_stream());
        while let Some(Ok(note)) = notes.next().await {
            let at = board.commits.nanos(Instant::now());
            if !board.timing.load(Ordering::Relaxed) {
                continue;
            }
            if let Ok(n) = parse_events_notification(&note.payload) {
                if let Some(&tenant) = index.get(&n.tenant_id) {
                    let commit = board.commits.get(tenant, n.last_seq).unwrap_or(at);
                    raw.record(at.saturating_sub(commit));
                }
            }
        }
    })
}

/// A new order's OrderCreated and `n - 1` status updates: one append of n events.
fn batch(id: AggregateId, n: usize) -> Vec<NewEvent> {
    let mut events = vec![fixtures::order_created(id)];
    events.extend((1..n).map(|_| fixtures::status_updated(id)));
    events
}

async fn append(store: &PgEventStore, tenant: TenantId, n: usize) -> anyhow::Result<Vec<i64>> {
    let id = AggregateId::new_random();
    let recorded = store
        .append(
            tenant,
            &fixtures::order_stream(id),
            Version::ZERO,
            batch(id, n),
            fixtures::created_snapshot(id),
        )
        .await
        .context("append")?;
    Ok(recorded.iter().map(|e| e.seq.get()).collect())
}

struct Config {
    sockets: usize,
    tenants: usize,
}

impl Config {
    fn label(&self) -> String {
        format!("{} socket(s) on {} tenant(s)", self.sockets, self.tenants)
    }

    /// Sockets on tenant `t` (socket j is on tenant j % tenants).
    fn sockets_of(&self, t: usize) -> usize {
        (self.sockets + self.tenants - 1 - t) / self.tenants
    }
}

/// What one server did under one configuration.
struct Measured {
    /// Commit -> frame at the socket, paced phase.
    latency: Percentiles,
    /// Frames per second delivered during the burst.
    rate: f64,
    /// Mean size of the event frames, paced phase.
    frame_bytes: usize,
    note: String,
}

/// Runs the paced phase and the burst against the server at `ws_base`, on
/// tenants of its own (so seqs start at 1).
async fn measure(
    run: &Run,
    phase: &Phase,
    ws_base: &str,
    config: &Config,
) -> anyhow::Result<Measured> {
    let (sockets, tenant_count) = (config.sockets, config.tenants);
    let label = config.label();
    let tenants = Tenants::new(phase, tenant_count).await;
    let paced_rate = 50.0;
    let paced_for = run.secs(4.0, 1.0);
    let paced_events = (paced_rate * paced_for.as_secs_f64()) as usize;
    let board = Arc::new(Board::new(
        Commits::new(tenant_count, paced_events / tenant_count + 2),
        true,
    ));
    let tasks = connect_sockets(ws_base, &tenants, sockets, &board).await?;
    let store = PgEventStore::new(kitchen_adapters::postgres::pool(
        &phase.db.url(DbRole::Worker),
        4,
    )?);
    let listen = Arc::new(Histogram::default());
    let listener = raw_listener(phase, &tenants.ids, board.clone(), listen.clone());
    tokio::time::sleep(Duration::from_millis(200)).await; // LISTEN in place

    // Light: one single-event append every 20 ms, round robin over the tenants.
    let started = Instant::now();
    for i in 0..paced_events {
        tokio::time::sleep_until((started + Duration::from_secs_f64(i as f64 / paced_rate)).into())
            .await;
        let tenant = i % tenant_count;
        let seqs = append(&store, tenants.ids[tenant], 1).await?;
        let committed = Instant::now();
        for seq in seqs {
            board.commits.set(tenant, seq, committed);
        }
    }
    let expected: u64 = (0..paced_events)
        .map(|i| config.sockets_of(i % tenant_count) as u64)
        .sum();
    wait_delivered(&board, expected, Duration::from_secs(20)).await;
    board.timing.store(false, Ordering::Relaxed);
    listener.abort();
    let latency = board.latency.percentiles().context("no deliveries")?;
    let listen = listen.percentiles().context("no notifications heard")?;
    if latency.count as u64 != expected {
        bail!(
            "{label}: {} of {expected} paced deliveries arrived",
            latency.count
        );
    }
    let frame_bytes = (board.bytes.load(Ordering::Relaxed)
        / board.delivered.load(Ordering::Relaxed).max(1)) as usize;

    // Throughput: 4 writers append 10-event batches as fast as they can.
    let before = board.delivered.load(Ordering::Relaxed);
    let appended: Arc<Vec<AtomicU64>> =
        Arc::new((0..tenant_count).map(|_| AtomicU64::new(0)).collect());
    let burst_for = run.secs(3.0, 0.5);
    let cpu = CpuSample::now();
    let started = Instant::now();
    let writers: Vec<_> = (0..4usize)
        .map(|w| {
            let (store, tenants, appended) = (store.clone(), tenants.clone(), appended.clone());
            tokio::spawn(async move {
                let mut i = w;
                while started.elapsed() < burst_for {
                    let t = i % tenants.ids.len();
                    append(&store, tenants.ids[t], 10).await?;
                    appended[t].fetch_add(10, Ordering::Relaxed);
                    i += 4;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for w in writers {
        w.await??;
    }
    let events: u64 = appended.iter().map(|a| a.load(Ordering::Relaxed)).sum();
    let expected: u64 = appended
        .iter()
        .enumerate()
        .map(|(t, a)| a.load(Ordering::Relaxed) * config.sockets_of(t) as u64)
        .sum();
    let last = wait_delivered(&board, before + expected, Duration::from_secs(60)).await;
    let delivered = board.delivered.load(Ordering::Relaxed) - before;
    let secs = last.duration_since(started).as_secs_f64();
    let cpu = cpu.split_until_now();
    let closed = board.closed.load(Ordering::Relaxed);
    for task in tasks {
        task.abort();
    }
    let note = format!(
        "paced p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} deliveries of {frame_bytes}-byte frames \
         (bare LISTEN p99 {:.2} ms); burst of {events} events in {:.1} s -> {delivered} of {expected} \
         deliveries in {secs:.2} s, {closed} socket(s) closed; {cpu}",
        latency.p50_ms,
        latency.p99_ms,
        latency.max_ms,
        latency.count,
        listen.p99_ms,
        burst_for.as_secs_f64(),
    );
    Ok(Measured {
        latency,
        rate: delivered as f64 / secs,
        frame_bytes,
        note,
    })
}

/// What the raw rows call the raw server.
const RAW: &str = "bare broadcast server (LISTEN + tokio-tungstenite)";

async fn one_config(
    run: &Run,
    phase: &Phase,
    config: &Config,
    out: &mut Findings,
) -> anyhow::Result<()> {
    let label = config.label();
    // A fresh realtime per configuration: no rooms or sockets left over.
    let ours = {
        let realtime = Service::start("realtime", &phase.settings, &run.log_dir).await?;
        measure(run, phase, &realtime.ws_base(), config).await?
    };
    let raw = {
        let server = RawFanout::start(
            phase.db.url(DbRole::Realtime).expose_secret(),
            ours.frame_bytes,
        )?;
        measure(run, phase, &server.ws_base(), config).await?
    };
    out.row(
        Row::new(
            "5",
            format!("fan-out {label}: commit -> delivery p99 at 50 events/s"),
            "ms",
            ours.latency.p99_ms,
        )
        .raw(raw.latency.p99_ms, RAW)
        .at_most(5.0),
    );
    let rate = Row::new(
        "5",
        format!("fan-out {label}: messages/s delivered"),
        "msg/s",
        ours.rate,
    )
    .raw(raw.rate, RAW);
    out.row(if config.sockets == 100 && config.tenants == 1 {
        rate.at_least(100_000.0)
    } else {
        rate
    });
    out.note(format!("row 5 {label}, realtime: {}", ours.note));
    out.note(format!("row 5 {label}, raw server: {}", raw.note));
    Ok(())
}

/// Waits until `target` frames were delivered or nothing arrived for 3 s (or
/// `limit`); returns when the last frame counted arrived.
async fn wait_delivered(board: &Board, target: u64, limit: Duration) -> Instant {
    let deadline = Instant::now() + limit;
    let mut last = (board.delivered.load(Ordering::Relaxed), Instant::now());
    loop {
        let now = board.delivered.load(Ordering::Relaxed);
        if now != last.0 {
            last = (now, Instant::now());
        }
        if now >= target || last.1.elapsed() > Duration::from_secs(3) || Instant::now() > deadline {
            return last.1;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// RSS per idle socket of the process `pid` serving `ws_base`, at each of
/// `steps` sockets (KB, against its RSS with one socket).
async fn idle_rss(
    phase: &Phase,
    pid: u32,
    ws_base: &str,
    steps: &[usize],
) -> anyhow::Result<Vec<(f64, String)>> {
    let tenants = Tenants::new(phase, 100).await;
    let board = Arc::new(Board::new(Commits::new(100, 1), false));
    // Warm the process (pool, first room) before the baseline.
    let mut tasks = connect_sockets(ws_base, &tenants, 1, &board).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let base = stack::rss_kib(pid)?;
    let mut found = Vec::new();
    for &step in steps {
        let more = step - tasks.len();
        tasks.extend(connect_sockets(ws_base, &tenants, more, &board).await?);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss = stack::rss_kib(pid)?;
        let closed = board.closed.load(Ordering::Relaxed);
        if closed > 0 {
            bail!("{closed} idle socket(s) were closed at {step} sockets");
        }
        let per_socket_kb = (rss.saturating_sub(base)) as f64 * 1.024 / (tasks.len() - 1) as f64;
        found.push((
            per_socket_kb,
            format!("RSS {base} KiB with 1 socket -> {rss} KiB with {step}"),
        ));
    }
    for task in tasks {
        task.abort();
    }
    Ok(found)
}

/// RSS per idle socket, realtime beside the raw server, each a fresh process.
async fn idle_sockets(
    run: &Run,
    phase: &Phase,
    steps: &[usize],
    out: &mut Findings,
) -> anyhow::Result<()> {
    let ours = {
        let realtime = Service::start("realtime", &phase.settings, &run.log_dir).await?;
        idle_rss(phase, realtime.pid(), &realtime.ws_base(), steps).await?
    };
    let raw = {
        let server = RawFanout::start(phase.db.url(DbRole::Realtime).expose_secret(), 400)?;
        idle_rss(phase, server.pid(), &server.ws_base(), steps).await?
    };
    for ((step, (ours, our_note)), (raw, raw_note)) in steps.iter().zip(ours).zip(raw) {
        out.row(
            Row::new(
                "5",
                format!("RSS per idle socket at {step} sockets"),
                "KB",
                ours,
            )
            .raw(raw, RAW)
            .at_most(30.0),
        );
        out.note(format!(
            "row 5 idle: realtime {our_note}; raw server {raw_note}"
        ));
    }
    Ok(())
}

pub async fn run(run: &Run, out: &mut Findings) -> anyhow::Result<()> {
    let mut phase = Phase::new().await?;
    // The row measures fan-out: 1,000 sockets on one tenant are past the
    // deployed per-tenant socket quota (200, issue 15), which would refuse
    // them with 429. No bound here; the quota has its own tests.
    phase.settings.quotas.max_sockets = 0;
    let configs = if run.smoke {
        vec![
            Config {
                sockets: 1,
                tenants: 1,
            },
            Config {
                sockets: 20,
                tenants: 1,
            },
            Config {
                sockets: 50,
                tenants: 50,
            },
        ]
    } else {
        vec![
            Config {
                sockets: 1,
                tenants: 1,
            },
            Config {
                sockets: 100,
                tenants: 1,
            },
            Config {
                sockets: 1000,
                tenants: 1,
            },
            Config {
                sockets: 1000,
                tenants: 1000,
            },
        ]
    };
    for config in &configs {
        one_config(run, &phase, config, out).await?;
    }
    idle_sockets(
        run,
        &phase,
        &run.size(vec![1000, 10_000], vec![100, 500]),
        out,
    )
    .await
}
