//! What browsers get from the gateway: CORS for the allowed origins only (a
//! page of any other origin is refused with 403 `origin_not_allowed`, its
//! preflight included), the household console's files under `/console/`, and
//! `/console/config.json` telling it where the services are.

use kitchen_adapters::config::Settings;
use kitchen_test_support::{tokens, TestDb};
use reqwest::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD,
    CONTENT_TYPE, LOCATION, ORIGIN,
};
use reqwest::Method;
use serde_json::{json, Value};

const CONSOLE_ORIGIN: &str = "http://127.0.0.1:5173";

fn settings(db: &TestDb) -> Settings {
    let mut settings = db.platform_settings();
    settings.edge.allowed_origins = vec![CONSOLE_ORIGIN.into()];
    settings
}

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn an_allowed_origin_gets_cors_answers_and_any_other_origin_a_403() {
    let db = TestDb::new().await.unwrap();
    let settings = settings(&db);
    let base = crate::start_gateway(&settings);
    let http = reqwest::Client::new();
    let tenant = db.active_tenant().await;
    let token = tokens::valid(&settings.auth, tenant);
    let preflight = |origin: &str| {
        http.request(Method::OPTIONS, format!("{base}/v1/commands"))
            .header(ORIGIN, origin)
            .header(ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(
                ACCESS_CONTROL_REQUEST_HEADERS,
                "authorization, content-type",
            )
            .send()
    };

    // The console's origin: the preflight allows the method and headers.
    let allowed = preflight(CONSOLE_ORIGIN).await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        header(&allowed, ACCESS_CONTROL_ALLOW_ORIGIN),
        CONSOLE_ORIGIN
    );
    let methods = header(&allowed, ACCESS_CONTROL_ALLOW_METHODS);
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        assert!(methods.contains(method), "{method} in {methods}");
    }
    let headers = header(&allowed, ACCESS_CONTROL_ALLOW_HEADERS).to_lowercase();
    assert!(
        headers.contains("authorization") && headers.contains("content-type"),
        "{headers}"
    );

    // Its real request: answered, readable, Location exposed.
    let posted = http
        .post(format!("{base}/v1/commands"))
        .header(ORIGIN, CONSOLE_ORIGIN)
        .bearer_auth(&token)
        .json(
            &json!({"type": "createOrder", "payload": {"orderId": uuid::Uuid::new_v4(),
            "userId": "sam", "items": [{"menuItemId": "soup", "quantity": 1}]}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    assert_eq!(header(&posted, ACCESS_CONTROL_ALLOW_ORIGIN), CONSOLE_ORIGIN);
    let exposed = header(&posted, ACCESS_CONTROL_EXPOSE_HEADERS).to_lowercase();
    assert!(
        exposed.contains("location") && exposed.contains("retry-after"),
        "{exposed}"
    );
    assert!(header(&posted, LOCATION).starts_with("/v1/commands/"));

    // Another origin: refused with a problem, preflight or not, and nothing written.
    for origin in ["http://evil.example", "http://127.0.0.1:5174", "null"] {
        let refused = preflight(origin).await.unwrap();
        assert_eq!(refused.status(), 403, "{origin}");
        assert!(header(&refused, ACCESS_CONTROL_ALLOW_ORIGIN).is_empty());
        assert_eq!(header(&refused, CONTENT_TYPE), "application/problem+json");
        let problem: Value = refused.json().await.unwrap();
        assert_eq!(problem["code"], "origin_not_allowed", "{problem}");
    }
    let before = db.count_rows("commands", tenant).await;
    let refused = http
        .post(format!("{base}/v1/commands"))
        .header(ORIGIN, "http://evil.example")
        .bearer_auth(&token)
        .json(
            &json!({"type": "createOrder", "payload": {"orderId": uuid::Uuid::new_v4(),
            "userId": "sam", "items": [{"menuItemId": "soup", "quantity": 1}]}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(
        db.count_rows("commands", tenant).await,
        before,
        "nothing written"
    );

    // No Origin (not a browser) and the gateway's own origin (its console) pass.
    let own = base.clone();
    for origin in [None, Some(own.as_str())] {
        let mut request = http.get(format!("{base}/v1/snapshot")).bearer_auth(&token);
        if let Some(origin) = origin {
            request = request.header(ORIGIN, origin);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 200, "{origin:?}");
        let snapshot: Value = answer.json().await.unwrap();
        assert_eq!(
            snapshot["epoch"],
            uuid::Uuid::nil().to_string(),
            "a log never written"
        );
    }
}

#[tokio::test]
async fn with_no_allowed_origins_every_cross_origin_browser_request_is_refused() {
    let db = TestDb::new().await.unwrap();
    let settings = db.platform_settings();
    assert!(settings.edge.allowed_origins.is_empty());
    let base = crate::start_gateway(&settings);
    let answer = reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .header(ORIGIN, CONSOLE_ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);
}

/// A built console: `index.html` and one asset, in a fresh directory.
fn console_files() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kitchen-console-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><title>Household console</title>",
    )
    .unwrap();
    std::fs::write(dir.join("assets/app.js"), "console.log('board');").unwrap();
    dir
}

#[tokio::test]
async fn the_console_is_served_with_its_config_and_an_spa_fallback() {
    let db = TestDb::new().await.unwrap();
    let dir = console_files();
    let mut settings = settings(&db);
    settings.gateway.console_dir = Some(dir.clone());
    settings.realtime.port = 9181;
    let base = crate::start_gateway(&settings);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str| http.get(format!("{base}{path}")).send();

    let index = get("/console/").await.unwrap();
    assert_eq!(index.status(), 200);
    assert!(header(&index, CONTENT_TYPE).starts_with("text/html"));
    assert!(index.text().await.unwrap().contains("Household console"));
    let asset = get("/console/assets/app.js").await.unwrap();
    assert_eq!(asset.status(), 200);
    assert!(header(&asset, CONTENT_TYPE).contains("javascript"));
    assert_eq!(asset.text().await.unwrap(), "console.log('board');");
    // A route of the app (no such file): the app's page, which routes it.
    let route = get("/console/orders/42").await.unwrap();
    assert_eq!(route.status(), 200);
    assert!(route.text().await.unwrap().contains("Household console"));
    let bare = get("/console").await.unwrap();
    assert!(bare.status().is_redirection(), "{}", bare.status());
    assert_eq!(header(&bare, LOCATION), "/console/");

    // Where the services are: derived from the host the page came from.
    let config: Value = get("/console/config.json")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let host = base.trim_start_matches("http://");
    let hostname = host.rsplit_once(':').unwrap().0;
    assert_eq!(
        config,
        json!({"gatewayUrl": base, "realtimeUrl": format!("ws://{hostname}:9181")})
    );
    // Nothing else of the API moved.
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn config_json_says_the_public_urls_when_set_and_a_console_dir_without_index_is_an_error() {
    let db = TestDb::new().await.unwrap();
    let mut settings = settings(&db);
    settings.gateway.public_url = Some("https://kitchen.example/".into());
    settings.realtime.public_url = Some("wss://stream.kitchen.example".into());
    let base = crate::start_gateway(&settings);
    let config: Value = reqwest::get(format!("{base}/console/config.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        config,
        json!({"gatewayUrl": "https://kitchen.example", "realtimeUrl": "wss://stream.kitchen.example"})
    );
    // No console directory set: its pages are not served.
    let page = reqwest::get(format!("{base}/console/")).await.unwrap();
    assert_eq!(page.status(), 404);

    let empty = std::env::temp_dir().join(format!("kitchen-console-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&empty).unwrap();
    settings.gateway.console_dir = Some(empty.clone());
    let error = command_gateway::build(&settings, &kitchen_adapters::shutdown::Shutdown::new())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("console_dir") && error.contains("index.html"),
        "{error}"
    );
    std::fs::remove_dir_all(empty).unwrap();
}
