//! `/metrics` of the pump and the worker after real commands through the whole
//! stack (gateway, pump, Temporal, worker, on real PostgreSQL): each series
//! moved by exactly what was done.

mod common;

use std::time::{Duration, Instant};

use common::{create_order_payload, Stack};
use kitchen_adapters::config::DbRole;
use kitchen_adapters::edge::{Check, Readiness};
use kitchen_adapters::ops_http;
use kitchen_adapters::shutdown::Shutdown;
use serde_json::json;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

/// The value of one series (name and labels exactly as rendered).
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn scrape(base: &str) -> String {
    reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Polls `base`'s `/metrics` until `series` reads `want`; returns the text.
async fn wait_metric(base: &str, series: &str, want: f64) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = scrape(base).await;
        if metric(&text, series) == Some(want) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{series} never read {want}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pump_and_worker_metrics_count_claims_starts_outcomes_and_activities() {
    let mut stack = Stack::new(|_| {}).await;
    kitchen_test_support::temporal::require_shared(&stack.settings.temporal.address).await;
    let pump = stack.start_pump().await;
    let worker = stack.start_worker().await;
    let ops_shutdown = Shutdown::new();
    let pump_ops = ops_http::serve(
        "127.0.0.1",
        0,
        Readiness::new(vec![Check::postgres(stack.db.pool(DbRole::Pump))]),
        pump.registry().clone(),
        &ops_shutdown,
    )
    .unwrap()
    .spawn();
    let worker_ops = ops_http::serve(
        "127.0.0.1",
        0,
        Readiness::new(vec![Check::postgres(stack.db.pool(DbRole::Worker))]),
        worker,
        &ops_shutdown,
    )
    .unwrap()
    .spawn();
    let (pump_ops, worker_ops) = (format!("http://{pump_ops}"), format!("http://{worker_ops}"));

    // One order with a timer a second away, then the same order again (rejected).
    let order = Uuid::new_v4();
    let mut payload = create_order_payload(order);
    payload["scheduledFor"] = json!(chrono::Utc::now() + chrono::Duration::seconds(1));
    let created = stack.post("createOrder", payload).await;
    assert_eq!(stack.wait_final(created, WAIT).await["status"], "succeeded");
    let again = stack.post("createOrder", create_order_payload(order)).await;
    assert_eq!(stack.wait_final(again, WAIT).await["status"], "rejected");

    let text = scrape(&pump_ops).await;
    for (series, want) in [
        ("kitchen_pump_claims_total", 2.0),
        ("kitchen_pump_workflows_started_total", 2.0),
        ("kitchen_pump_already_started_total", 0.0),
        ("kitchen_pump_start_failures_total", 0.0),
        ("kitchen_pump_claim_to_start_seconds_count", 2.0),
    ] {
        assert_eq!(metric(&text, series), Some(want), "{series}:\n{text}");
    }
    let sum = metric(&text, "kitchen_pump_claim_to_start_seconds_sum").unwrap();
    assert!(sum > 0.0 && sum < 10.0, "two starts took {sum} s:\n{text}");

    // The timer fires on the workflow's clock: wait for its activity.
    let text = wait_metric(
        &worker_ops,
        "kitchen_worker_activity_seconds_count{activity=\"fire_timer\",result=\"ok\"}",
        1.0,
    )
    .await;
    for (series, want) in [
        (
            "kitchen_worker_commands_total{outcome=\"succeeded\"}",
            Some(1.0),
        ),
        (
            "kitchen_worker_commands_total{outcome=\"rejected\"}",
            Some(1.0),
        ),
        ("kitchen_worker_commands_total{outcome=\"failed\"}", None),
        (
            "kitchen_worker_activity_seconds_count{activity=\"run_command\",result=\"ok\"}",
            Some(2.0),
        ),
        (
            "kitchen_worker_activity_seconds_count{activity=\"run_command\",result=\"error\"}",
            None,
        ),
        ("kitchen_worker_conflicts_retried_total", Some(0.0)),
    ] {
        assert_eq!(metric(&text, series), want, "{series}:\n{text}");
    }
    assert_eq!(
        stack.events().await.len(),
        2,
        "OrderCreated and its due event"
    );
    ops_shutdown.trigger();
    stack.stop_pumps().await;
    stack.stop_workers().await;
}
