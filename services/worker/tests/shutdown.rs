//! SIGTERM under load, on the real worker binary: it stops polling, finishes
//! (or, past its grace period, abandons to Temporal's retries) the tasks it
//! holds and exits 0 within 10 s; after a restart every accepted command
//! reaches a final status, with its event appended exactly once.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{create_order_payload, Stack};
use uuid::Uuid;

/// At most this many commands are posted during the load.
const MAX_POSTED: usize = 400;
const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_drains_the_worker_and_every_command_completes_once_after_a_restart() {
    let mut stack = Stack::new(|_| {}).await;
    kitchen_test_support::temporal::require_shared(&stack.settings.temporal.address).await;
    stack.start_pump().await;
    stack.spawn_worker_process();
    let stack = Arc::new(tokio::sync::Mutex::new(stack));

    // Load: commands keep coming until the worker is gone.
    let ids = Arc::new(Mutex::new(Vec::<Uuid>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (stack, ids, stop) = (stack.clone(), ids.clone(), stop.clone());
        tokio::spawn(async move {
            // Bounded, so the restarted worker finishes them well within WAIT
            // on a loaded 2-core machine (unbounded, it was ~1,500).
            while !stop.load(Ordering::SeqCst) && ids.lock().unwrap().len() < MAX_POSTED {
                let stack = stack.lock().await;
                let id = stack
                    .post("createOrder", create_order_payload(Uuid::new_v4()))
                    .await;
                ids.lock().unwrap().push(id);
            }
        })
    };
    let deadline = Instant::now() + WAIT;
    while stack.lock().await.events().await.len() < 20 {
        assert!(Instant::now() < deadline, "the worker made no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut guard = stack.lock().await;
    let exits = guard
        .terminate_worker_processes(Duration::from_secs(10))
        .await;
    drop(guard);
    let (status, took) = exits[0];
    assert!(status.success(), "exit status {status:?}");
    stop.store(true, Ordering::SeqCst);
    load.await.unwrap();
    let ids = ids.lock().unwrap().clone();
    let mut stack = Arc::try_unwrap(stack).ok().unwrap().into_inner();
    let done_before = stack.events().await.len();
    println!(
        "worker exited {status:?} {took:?} after SIGTERM, {done_before} of {} commands done",
        ids.len()
    );
    assert!(done_before < ids.len(), "stopped mid-load");

    stack.spawn_worker_process();
    let outcomes = stack.wait_all_final(&ids, WAIT).await;
    for (id, command) in &outcomes {
        assert_eq!(command["status"], "succeeded", "{id}: {command}");
    }
    let events = stack.events().await;
    let seqs: Vec<i64> = events.iter().map(|e| e.seq.get()).collect();
    assert_eq!(
        seqs,
        (1..=ids.len() as i64).collect::<Vec<_>>(),
        "one event each, gapless"
    );
    let causes: HashSet<Uuid> = events.iter().map(|e| e.causation_id).collect();
    assert_eq!(
        causes,
        ids.iter().copied().collect(),
        "each command's event once"
    );

    // An idle worker stops just as cleanly.
    let exits = stack
        .terminate_worker_processes(Duration::from_secs(10))
        .await;
    assert!(exits[0].0.success(), "{exits:?}");
}
