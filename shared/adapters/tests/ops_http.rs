//! The pump's and worker's operations endpoints.

use kitchen_adapters::config::DbRole;
use kitchen_adapters::edge::{Check, Readiness};
use kitchen_adapters::shutdown::Shutdown;
use kitchen_adapters::{metrics, ops_http};
use kitchen_test_support::TestDb;

#[actix_web::test]
async fn health_ready_and_metrics_answer_and_readiness_follows_postgres() {
    let db = TestDb::new().await.unwrap();
    let registry = metrics::registry();
    let counter = metrics::counter(&registry, "my_metric_total", "Mine.").unwrap();
    counter.inc_by(7);
    let address = ops_http::serve(
        "127.0.0.1",
        0,
        Readiness::new(vec![Check::postgres(db.pool(DbRole::Pump))]),
        registry,
        &Shutdown::new(),
    )
    .unwrap()
    .spawn();
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("http://{address}{path}")).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);
    let scraped = get("/metrics").await.unwrap();
    assert_eq!(
        scraped.headers()["content-type"],
        "text/plain; version=0.0.4"
    );
    let text = scraped.text().await.unwrap();
    assert!(text.contains("\nmy_metric_total 7\n"), "{text}");

    let mut settings = db.settings.clone();
    settings.port = 1;
    let dead_pool =
        kitchen_adapters::postgres::pool(&settings.url_for(DbRole::Pump, &db.name), 1).unwrap();
    let dead = ops_http::serve(
        "127.0.0.1",
        0,
        Readiness::new(vec![Check::postgres(dead_pool)]),
        metrics::registry(),
        &Shutdown::new(),
    )
    .unwrap()
    .spawn();
    let response = http
        .get(format!("http://{dead}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["detail"], "not ready: postgres", "{problem}");
    assert_eq!(
        http.get(format!("http://{dead}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[actix_web::test]
async fn readiness_names_a_listen_connection_that_is_down_and_follows_it_up() {
    use std::time::Duration;

    use kitchen_adapters::postgres::listen::{self, ListenHealth};
    use kitchen_test_support::poll;

    let db = TestDb::new().await.unwrap();
    let shutdown = Shutdown::new();
    let (up, down) = (ListenHealth::default(), ListenHealth::default());
    let mut unreachable = db.settings.clone();
    unreachable.port = 1;
    for (health, url) in [
        (&up, db.url(DbRole::Pump)),
        (&down, unreachable.url_for(DbRole::Pump, &db.name)),
    ] {
        let (heard, mut rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(listen::run(
            url,
            "commands",
            heard,
            shutdown.clone(),
            health.clone(),
        ));
        tokio::spawn(async move { while rx.recv().await.is_some() {} });
    }
    poll::until(
        Duration::from_secs(10),
        "the LISTEN connection is up",
        || async { up.is_up().then_some(()) },
    )
    .await;
    let readiness = Readiness::new(vec![
        Check::postgres(db.pool(DbRole::Pump)),
        up.check(),
        down.check(),
    ]);
    let failures = readiness.failures().await;
    let names: Vec<&str> = failures.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["listen"], "only the unreachable one: {failures:?}");
    assert!(!down.is_up());
    shutdown.trigger();
}
