//! A measurement, not a check of speed: POST -> event row latency over 200
//! sequential createOrder commands, through the real gateway, pump, Temporal
//! and worker. Ignored by default; run it with
//!   cargo test --release -p worker --test latency -- --ignored --nocapture

mod common;

use std::time::{Duration, Instant};

use common::{create_order_payload, Stack};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures_util::StreamExt;
use kitchen_adapters::config::DbRole;
use kitchen_adapters::postgres::notify::parse_events_notification;
use secrecy::ExposeSecret;
use uuid::Uuid;

const COMMANDS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a measurement; run explicitly (see the module docs)"]
async fn post_to_event_row_latency_over_200_sequential_commands() {
    let stack = Stack::full().await;
    let mut listen = AsyncPgConnection::establish(stack.db.url(DbRole::Realtime).expose_secret())
        .await
        .unwrap();
    listen.batch_execute("LISTEN events").await.unwrap();
    // Warm up connections and the workflow cache.
    for _ in 0..5 {
        let id = stack
            .post("createOrder", create_order_payload(Uuid::new_v4()))
            .await;
        stack.wait_final(id, Duration::from_secs(30)).await;
    }
    let mut seen = 5i64;
    let mut latencies = Vec::with_capacity(COMMANDS);
    let mut notifications = std::pin::pin!(listen.notifications_stream());
    // Drain notifications of the warm-up.
    while let Ok(Some(_)) =
        tokio::time::timeout(Duration::from_millis(200), notifications.next()).await
    {}
    for _ in 0..COMMANDS {
        let started = Instant::now();
        stack
            .post("createOrder", create_order_payload(Uuid::new_v4()))
            .await;
        loop {
            let note = tokio::time::timeout(Duration::from_secs(30), notifications.next())
                .await
                .expect("event within 30 s")
                .unwrap()
                .unwrap();
            let parsed = parse_events_notification(&note.payload).unwrap();
            if parsed.tenant_id == stack.tenant.as_uuid() && parsed.last_seq > seen {
                seen = parsed.last_seq;
                break;
            }
        }
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let pct = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    println!(
        "POST -> event row, {COMMANDS} sequential commands ({} build, {cpus} CPUs): p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        if cfg!(debug_assertions) { "debug" } else { "release" },
        pct(0.5),
        pct(0.9),
        pct(0.99),
        latencies.last().unwrap()
    );
}
