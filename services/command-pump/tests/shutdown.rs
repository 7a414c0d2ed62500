//! SIGTERM under load, on the real binary: while its workflow starts hang
//! (the test's own Temporal dev server is frozen with SIGSTOP), the pump gives
//! every claim back and exits 0 within 10 s, though its start timeout is a
//! minute; once Temporal is back, a new pump and a worker take every command
//! to a final status.

use std::time::{Duration, Instant};

use command_pump::Pump;
use kitchen_adapters::config::{DbRole, Settings};
use kitchen_adapters::shutdown::Shutdown;
use kitchen_domain::TenantId;
use kitchen_temporal::TemporalScheduler;
use kitchen_test_support::temporal::{wait_for_port, OwnedTemporal};
use kitchen_test_support::{process, tokens, TestDb};
use serde_json::{json, Value};

async fn post_order(http: &reqwest::Client, base: &str, token: &str) {
    let response = http
        .post(format!("{base}/v1/commands"))
        .bearer_auth(token)
        .json(&json!({"type": "createOrder", "payload": {
            "orderId": uuid::Uuid::new_v4(), "userId": "u",
            "items": [{"menuItemId": "soup", "quantity": 1}]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let _: Value = response.json().await.unwrap();
}

async fn count(db: &TestDb, tenant: TenantId, statuses: &str) -> i64 {
    db.count_rows(&format!("commands WHERE status IN ({statuses})"), tenant)
        .await
}

/// Polls until `count(statuses)` reaches `want`.
async fn wait_count(db: &TestDb, tenant: TenantId, statuses: &str, want: i64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let n = count(db, tenant, statuses).await;
        if n >= want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{n} of {want} commands in ({statuses}) after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn start_worker(
    settings: &Settings,
    db: &TestDb,
    shutdown: Shutdown,
) -> std::thread::JoinHandle<()> {
    let (settings, pool) = (settings.clone(), db.pool(DbRole::Worker));
    // The SDK's worker future is not Send: a runtime of its own.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime
            .block_on(worker::run(
                &settings,
                pool,
                &kitchen_adapters::metrics::registry(),
                shutdown,
            ))
            .unwrap();
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_gives_back_every_claim_and_every_command_completes_after_a_restart() {
    let temporal = OwnedTemporal::start().await;
    let db = TestDb::new().await.unwrap();
    let mut settings = db.platform_settings();
    settings.temporal.address = temporal.address();
    settings.temporal.task_queue = format!("kitchen-test-{}", uuid::Uuid::new_v4());
    // A hung start would hold its claim for a minute, and a claim left behind
    // would stay `claimed` for a minute: either shows within the test.
    settings.pump.start_timeout_ms = 60_000;
    settings.pump.stale_claim_secs = 60;
    settings.pump.sweep_interval_ms = 250;
    // No worker runs until the restart, so nothing dispatched becomes final:
    // one tenant's 60 commands must not stop at the in-flight cap.
    settings.pump.max_in_flight_per_tenant = 0;
    settings.pump.port = process::free_port();

    let gateway = command_gateway::build(&settings, &Shutdown::new()).unwrap();
    let base = format!("http://{}", gateway.spawn());
    let tenant = db.active_tenant().await;
    let token = tokens::valid(&settings.auth, tenant);
    let http = reqwest::Client::new();

    let mut pump = process::spawn(env!("CARGO_BIN_EXE_command-pump"), &settings);
    assert!(wait_for_port(settings.pump.port, Duration::from_secs(30)).await);
    // It dispatches while Temporal answers...
    for _ in 0..20 {
        post_order(&http, &base, &token).await;
    }
    wait_count(&db, tenant, "'dispatched'", 20, Duration::from_secs(30)).await;
    // ...then its starts hang, each holding a claim, while commands keep coming.
    temporal.freeze();
    for _ in 0..40 {
        post_order(&http, &base, &token).await;
    }
    wait_count(&db, tenant, "'claimed'", 16, Duration::from_secs(10)).await;

    let (status, took) = process::terminate(&mut pump, Duration::from_secs(10)).await;
    assert!(status.success(), "exit status {status:?}");
    println!("pump exited {status:?} {took:?} after SIGTERM");
    assert_eq!(
        count(&db, tenant, "'claimed'").await,
        0,
        "no claim outlives the pump"
    );
    assert_eq!(count(&db, tenant, "'pending'").await, 40);

    // After a restart, every accepted command completes.
    temporal.thaw();
    let stop = Shutdown::new();
    let pump = Pump::new(
        &settings,
        TemporalScheduler::new(
            kitchen_temporal::connect_with_retry(&settings.temporal, "test-pump")
                .await
                .unwrap(),
            settings.temporal.task_queue.clone(),
        ),
    )
    .unwrap();
    let pump = tokio::spawn(pump.run(stop.clone()));
    let worker = start_worker(&settings, &db, stop.clone());
    wait_count(
        &db,
        tenant,
        "'succeeded', 'rejected', 'failed'",
        60,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(count(&db, tenant, "'succeeded'").await, 60);
    stop.trigger();
    pump.await.unwrap();
    tokio::task::spawn_blocking(move || worker.join().unwrap())
        .await
        .unwrap();
}
