//! The pump's and worker's operations endpoints.

use kitchen_adapters::config::DbRole;
use kitchen_adapters::shutdown::Shutdown;
use kitchen_adapters::{metrics, ops_http};
use kitchen_test_support::TestDb;

#[actix_web::test]
async fn health_ready_and_metrics_answer_and_readiness_follows_postgres() {
    let db = TestDb::new().await.unwrap();
    let registry = metrics::registry();
    let counter = metrics::counter(&registry, "my_metric_total", "Mine.").unwrap();
    counter.inc_by(7);
    let (address, server) = ops_http::serve(
        "127.0.0.1",
        0,
        db.pool(DbRole::Pump),
        registry,
        &Shutdown::new(),
    )
    .unwrap();
    actix_web::rt::spawn(server);
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
    let (dead, server) = ops_http::serve(
        "127.0.0.1",
        0,
        dead_pool,
        metrics::registry(),
        &Shutdown::new(),
    )
    .unwrap();
    actix_web::rt::spawn(server);
    let response = http
        .get(format!("http://{dead}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(
        http.get(format!("http://{dead}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
