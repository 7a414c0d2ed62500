//! `GET /v1/views/{name}` against a real PostgreSQL: a view and the seq it
//! reflects, one row by `key`, 404 problem+json for an unknown name, never
//! another tenant's rows; and a rebuild under load that readers never notice.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kitchen_adapters::config::{DbRole, Settings};
use kitchen_adapters::postgres::views::{rebuild, RebuildOptions, RebuildOutcome, RebuildScope};
use kitchen_adapters::postgres::PgEventStore;
use kitchen_domain::ports::EventStore;
use kitchen_domain::{AggregateId, Seq, TenantId, Version};
use kitchen_test_support::fixtures::{append_created, order_stream, status_updated};
use kitchen_test_support::views::{fold_at, whole_log};
use kitchen_test_support::{tokens, TestDb};
use reqwest::StatusCode;
use serde_json::Value;

struct TestApp {
    db: TestDb,
    settings: Settings,
    base: String,
    http: reqwest::Client,
}

impl TestApp {
    async fn spawn() -> TestApp {
        let db = TestDb::new().await.unwrap();
        let settings = db.platform_settings();
        let base = crate::start_gateway(&settings);
        TestApp {
            db,
            settings,
            base,
            http: reqwest::Client::new(),
        }
    }

    /// `GET path` as `tenant`: status, content type and JSON body.
    async fn get(&self, tenant: TenantId, path: &str) -> (StatusCode, String, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(tokens::valid(&self.settings.auth, tenant))
            .send()
            .await
            .unwrap();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (
            response.status(),
            content_type,
            response.json().await.unwrap_or(Value::Null),
        )
    }
}

#[tokio::test]
async fn a_view_is_served_with_its_seq_by_name_and_by_key() {
    let app = TestApp::spawn().await;
    let tenant = app.db.active_tenant().await;
    let store = PgEventStore::new(app.db.pool(DbRole::Worker));
    let (a, b) = (AggregateId::new_random(), AggregateId::new_random());
    append_created(&store, tenant, a).await;
    append_created(&store, tenant, b).await;

    let (status, _, body) = app.get(tenant, "/v1/views/orderBoard").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["seq"], 2);
    let log = whole_log(&store, tenant).await;
    assert_eq!(body["view"], fold_at("orderBoard", &log, log[1].seq));
    assert_eq!(body["view"]["counts"]["placed"], 2);

    let (status, _, one) = app
        .get(tenant, &format!("/v1/views/orderBoard?key={a}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["view"]["orders"].as_array().unwrap().len(), 1);
    assert_eq!(one["view"]["orders"][0]["orderId"], a.to_string());

    for name in ["kitchenQueue", "menu"] {
        let (status, _, body) = app.get(tenant, &format!("/v1/views/{name}")).await;
        assert_eq!(status, StatusCode::OK, "{name}: {body}");
        assert_eq!(body["seq"], 2, "{name}");
    }
}

#[tokio::test]
async fn an_unknown_view_is_a_404_problem_naming_the_views() {
    let app = TestApp::spawn().await;
    let tenant = app.db.active_tenant().await;
    let (status, content_type, body) = app.get(tenant, "/v1/views/orderBored").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(body["code"], "not_found");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("orderBoard") && detail.contains("menu"),
        "{detail}"
    );
}

#[tokio::test]
async fn another_tenants_view_is_never_visible() {
    let app = TestApp::spawn().await;
    let (mine, theirs) = (app.db.active_tenant().await, app.db.active_tenant().await);
    let store = PgEventStore::new(app.db.pool(DbRole::Worker));
    let order = AggregateId::new_random();
    append_created(&store, theirs, order).await;
    let (status, _, body) = app.get(mine, "/v1/views/orderBoard").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["seq"], 0);
    assert_eq!(body["view"]["orders"], serde_json::json!([]));
    let (_, _, by_key) = app
        .get(mine, &format!("/v1/views/orderBoard?key={order}"))
        .await;
    assert_eq!(by_key["view"]["orders"], serde_json::json!([]));
}

/// Appends a new order and confirms it, as one writer step; the two latencies.
async fn write_step(store: &PgEventStore, tenant: TenantId) -> [Duration; 2] {
    let order = AggregateId::new_random();
    let started = Instant::now();
    append_created(store, tenant, order).await;
    let created = started.elapsed();
    let started = Instant::now();
    store
        .append(
            tenant,
            &order_stream(order),
            Version::ZERO.advanced(1),
            vec![status_updated(order)],
            serde_json::json!({}),
        )
        .await
        .unwrap();
    [created, started.elapsed()]
}

/// Every append of the writers: when it started and how long it took.
type Latencies = Vec<(Instant, Duration)>;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuild_under_eight_writers_never_shows_a_reader_an_empty_partial_or_older_view() {
    let app = TestApp::spawn().await;
    let (tenant, other) = (app.db.active_tenant().await, app.db.active_tenant().await);
    let store = PgEventStore::new(app.db.pool(DbRole::Worker));
    for _ in 0..300 {
        write_step(&store, tenant).await;
    }
    for _ in 0..10 {
        write_step(&store, other).await;
    }
    let (_, _, other_before) = app.get(other, "/v1/views/orderBoard").await;
    // A new orderBoard version is deployed: the tenant's view must be rebuilt.
    app.db
        .execute_as_worker(tenant, "UPDATE view_heads SET version = 0")
        .await;

    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let (store, stop) = (store.clone(), stop.clone());
            tokio::spawn(async move {
                let mut latencies = Latencies::new();
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    for latency in write_step(&store, tenant).await {
                        latencies.push((started, latency));
                    }
                }
                latencies
            })
        })
        .collect();
    let app = Arc::new(app);
    let reader = {
        let (app, stop) = (app.clone(), stop.clone());
        tokio::spawn(async move {
            let mut reads: Vec<(Seq, Value)> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let (status, _, body) = app.get(tenant, "/v1/views/orderBoard").await;
                assert_eq!(status, StatusCode::OK, "{body}");
                let seq = Seq::new(body["seq"].as_i64().unwrap()).unwrap();
                if let Some((last, _)) = reads.last() {
                    assert!(seq >= *last, "the view went back from {last} to {seq}");
                }
                assert!(
                    !body["view"]["orders"].as_array().unwrap().is_empty(),
                    "an empty view at seq {seq}"
                );
                reads.push((seq, body["view"].clone()));
            }
            reads
        })
    };

    tokio::time::sleep(Duration::from_millis(300)).await;
    let rebuild_started = Instant::now();
    let scope = RebuildScope::VersionChanges;
    let options = RebuildOptions {
        batch: 50,
        ..RebuildOptions::default()
    };
    let outcome = rebuild(
        &app.db.url(DbRole::Worker),
        &app.db.pool(DbRole::Worker),
        scope,
        options,
        |_| {},
    )
    .await
    .unwrap();
    let rebuild_took = rebuild_started.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Latencies::new();
    for writer in writers {
        latencies.extend(writer.await.unwrap());
    }
    let reads = reader.await.unwrap();

    let RebuildOutcome::Ran(views) = outcome else {
        panic!("the only runner runs")
    };
    assert!(
        views.iter().all(|v| v.tenant == tenant),
        "only the changed views"
    );
    let mine = views.iter().find(|v| v.projection == "orderBoard").unwrap();
    // The tenant's appends went on during the rebuild, and none waited much
    // longer than the catch-up step under the lock (plus the ordinary wait
    // for the seven other writers, measured before the rebuild).
    let rebuild_window = rebuild_started..rebuild_started + rebuild_took;
    let during: Vec<Duration> = latencies
        .iter()
        .filter(|(at, _)| rebuild_window.contains(at))
        .map(|(_, l)| *l)
        .collect();
    let ordinary = latencies
        .iter()
        .filter(|(at, _)| *at < rebuild_started)
        .map(|(_, l)| *l)
        .max()
        .unwrap_or_default();
    let longest = during.iter().max().copied().unwrap_or_default();
    println!(
        "rebuild of {} built + {} caught-up events took {rebuild_took:?}; lock held {:?}; \
         {} appends during it, longest {longest:?} (before it: {ordinary:?}); {} reads",
        mine.built_events,
        mine.caught_up_events,
        mine.lock_held,
        during.len(),
        reads.len()
    );
    assert!(during.len() >= 8, "appends kept going: {}", during.len());
    assert!(
        longest <= ordinary + mine.lock_held + Duration::from_secs(1),
        "an append waited {longest:?}"
    );

    // Every view read was the fold of the log at its seq: never partial.
    let log = whole_log(&store, tenant).await;
    let head = log.last().unwrap().seq;
    assert!(reads.len() > 2, "{} reads", reads.len());
    for (seq, view) in &reads {
        assert_eq!(
            *view,
            fold_at("orderBoard", &log, *seq),
            "the view at seq {seq}"
        );
    }
    let (_, _, last) = app.get(tenant, "/v1/views/orderBoard").await;
    assert_eq!(last["seq"], head.get());
    assert_eq!(last["view"], fold_at("orderBoard", &log, head));
    // The other tenant's view reads as before.
    let (_, _, other_after) = app.get(other, "/v1/views/orderBoard").await;
    assert_eq!(other_after, other_before);
}
