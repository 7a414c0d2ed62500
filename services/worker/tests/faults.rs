//! Faults on the write path: a pump that is down, a Temporal outage, a worker
//! killed mid-run, and two pump replicas racing. Nothing is lost, nothing runs twice.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{create_order_payload, Stack};
use kitchen_test_support::poll;
use kitchen_test_support::temporal::OwnedTemporal;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(120);

/// Every command succeeded and caused exactly one event.
async fn assert_each_succeeded_once(stack: &Stack, ids: &[Uuid]) {
    let finals = stack.wait_all_final(ids, WAIT).await;
    for (id, command) in &finals {
        assert_eq!(command["status"], "succeeded", "{id}: {command}");
    }
    let events = stack.events().await;
    let mut per_command: HashMap<Uuid, usize> = HashMap::new();
    for event in &events {
        *per_command.entry(event.causation_id).or_default() += 1;
    }
    for id in ids {
        assert_eq!(
            per_command.get(id),
            Some(&1),
            "command {id} has {:?} events",
            per_command.get(id)
        );
    }
    assert_eq!(events.len(), ids.len(), "no stray events");
    let seqs: Vec<i64> = events.iter().map(|e| e.seq.get()).collect();
    assert_eq!(
        seqs,
        (1..=ids.len() as i64).collect::<Vec<_>>(),
        "gapless seqs"
    );
}

async fn post_orders(stack: &Stack, n: usize) -> Vec<Uuid> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(
            stack
                .post("createOrder", create_order_payload(Uuid::new_v4()))
                .await,
        );
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commands_posted_while_the_pump_is_down_all_succeed_once_it_is_back() {
    let mut stack = Stack::new(|_| {}).await;
    kitchen_test_support::temporal::require_shared(&stack.settings.temporal.address).await;
    stack.start_worker().await;
    let ids = post_orders(&stack, 100).await;
    poll::holds(
        Duration::from_millis(300),
        "nothing moves without a pump",
        || async {
            for id in &ids[..5] {
                if stack.command(*id).await["status"] != "pending" {
                    return false;
                }
            }
            true
        },
    )
    .await;
    stack.start_pump().await;
    assert_each_succeeded_once(&stack, &ids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_temporal_outage_mid_stream_loses_nothing() {
    let mut temporal = OwnedTemporal::start().await;
    let address = temporal.address();
    let mut stack = Stack::new(move |s| {
        s.temporal.address = address;
        s.pump.start_timeout_ms = 1000;
        // Starts that time out hold the pump's slots, which the gateway would
        // rightly read as overload (503); this test is about what was accepted.
        s.overload.max_head_wait_ms = 0;
    })
    .await;
    stack.start_pump().await;
    stack.start_worker().await;

    let mut ids = post_orders(&stack, 20).await;
    temporal.stop().await;
    // Commands keep arriving during the outage: they wait as pending.
    let during = post_orders(&stack, 20).await;
    // Long enough for several start timeouts (1 s) and retries.
    poll::holds(
        Duration::from_secs(4),
        "commands wait as pending or claimed during the outage",
        || async {
            for id in &during {
                let status = stack.command(*id).await["status"].clone();
                if status != "pending" && status != "claimed" {
                    eprintln!("{id} is {status} during the outage");
                    return false;
                }
            }
            true
        },
    )
    .await;
    ids.extend(during);
    temporal.restart().await;
    ids.extend(post_orders(&stack, 20).await);

    assert_each_succeeded_once(&stack, &ids).await;
    let failures: u64 = stack
        .pump_stats()
        .iter()
        .map(|s| s.start_failures.get())
        .sum();
    assert!(failures > 0, "the outage was noticed and backed off from");
    println!("temporal outage: {failures} workflow starts failed and were retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_run_leaves_every_command_with_its_events_exactly_once() {
    let mut stack = Stack::new(|_| {}).await;
    kitchen_test_support::temporal::require_shared(&stack.settings.temporal.address).await;
    stack.start_pump().await;
    let ids = post_orders(&stack, 60).await;
    stack.spawn_worker_process();
    // Kill it once it has done part of the work.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let done = stack.events().await.len();
        if done >= 5 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the worker made no progress"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stack.kill_worker_processes().await;
    let done_before = stack.events().await.len();
    assert!(
        done_before < ids.len(),
        "killed before the end ({done_before} done)"
    );
    stack.spawn_worker_process();
    assert_each_succeeded_once(&stack, &ids).await;
    stack.kill_worker_processes().await;
    println!(
        "worker killed after {done_before} of {} commands",
        ids.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pump_replicas_start_each_workflow_exactly_once() {
    let mut stack = Stack::new(|s| {
        s.pump.sweep_interval_ms = 100;
        // 500 posts in a row for one tenant: past the default rate quota.
        s.quotas.commands_per_sec = 0;
    })
    .await;
    kitchen_test_support::temporal::require_shared(&stack.settings.temporal.address).await;
    let ids = post_orders(&stack, 500).await;
    stack.start_worker().await;
    let a = stack.start_pump().await;
    let b = stack.start_pump().await;
    assert_each_succeeded_once(&stack, &ids).await;
    let started = a.started.get() + b.started.get();
    let failed = a.start_failures.get() + b.start_failures.get();
    assert_eq!(failed, 0);
    assert_eq!(
        started, 500,
        "each command dispatched by exactly one replica"
    );
    println!(
        "two pumps: replica A started {}, replica B started {}",
        a.started.get(),
        b.started.get()
    );
    for id in &ids {
        let command = stack.command(*id).await;
        assert_eq!(command["attempts"], 1, "claimed once: {command}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claims_left_by_a_pump_killed_mid_batch_are_retaken() {
    let mut stack = Stack::new(|s| s.pump.stale_claim_secs = 2).await;
    kitchen_test_support::temporal::require_shared(&stack.settings.temporal.address).await;
    let ids = post_orders(&stack, 10).await;
    // A pump claimed these, then died before starting their workflows.
    let claimed = stack
        .db
        .execute_as_worker(
            stack.tenant,
            "UPDATE commands SET status = 'claimed', claimed_at = now(), attempts = 1",
        )
        .await;
    assert_eq!(claimed, 10);
    stack.start_worker().await;
    stack.start_pump().await;
    let started = std::time::Instant::now();
    assert_each_succeeded_once(&stack, &ids).await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "fresh claims are not stolen"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pump_reconnects_its_listen_connection_on_its_own() {
    // A sweep far in the future: only LISTEN can dispatch quickly.
    let mut stack = Stack::new(|s| s.pump.sweep_interval_ms = 600_000).await;
    kitchen_test_support::temporal::require_shared(&stack.settings.temporal.address).await;
    stack.start_worker().await;
    stack.start_pump().await;
    let first = post_orders(&stack, 1).await;
    stack.wait_all_final(&first, Duration::from_secs(20)).await;

    let killed = stack.db.terminate_backends("kitchen_pump").await;
    assert!(killed >= 1, "the LISTEN connection was terminated");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = post_orders(&stack, 5).await;
    // Dispatched well before the next sweep (10 minutes away): LISTEN is back.
    let finals = stack.wait_all_final(&after, Duration::from_secs(30)).await;
    assert!(finals.values().all(|c| c["status"] == "succeeded"));
}
