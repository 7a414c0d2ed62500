//! `GET /v1/views/{name}` against a real PostgreSQL: a view and the seq it
//! reflects, one row by `key`, 404 problem+json for an unknown name, and
//! never another tenant's rows.

use command_gateway::Application;
use kitchen_adapters::config::{DbRole, Settings};
use kitchen_adapters::postgres::PgEventStore;
use kitchen_domain::{AggregateId, TenantId};
use kitchen_test_support::fixtures::append_created;
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
        let app = Application::build(&settings).unwrap();
        let base = format!("http://{}", app.address());
        tokio::spawn(app.run_until_stopped(kitchen_adapters::shutdown::Shutdown::new()));
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
