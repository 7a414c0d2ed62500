//! The gateway's HTTP contract, against a real PostgreSQL: commands are queued
//! idempotently, and every malformed body or token gets its documented status
//! and leaves no row behind.

use kitchen_adapters::config::Settings;
use kitchen_domain::TenantId;
use kitchen_test_support::tokens::{self, JwksServer};
use kitchen_test_support::TestDb;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

struct TestApp {
    db: TestDb,
    settings: Settings,
    base: String,
    http: reqwest::Client,
}

impl TestApp {
    async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let db = TestDb::new().await.unwrap();
        let mut settings = db.platform_settings();
        adjust(&mut settings);
        let base = crate::start_gateway(&settings);
        TestApp {
            db,
            settings,
            base,
            http: reqwest::Client::new(),
        }
    }

    fn token(&self, tenant: TenantId) -> String {
        tokens::valid(&self.settings.auth, tenant)
    }

    async fn post(
        &self,
        token: Option<&str>,
        body: &Value,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        self.post_raw(token, body.to_string().into_bytes(), "application/json")
            .await
    }

    async fn post_raw(
        &self,
        token: Option<&str>,
        body: Vec<u8>,
        content_type: &str,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut request = self
            .http
            .post(format!("{}/v1/commands", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body, headers)
    }

    async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }
}

fn create_order(order: Uuid) -> Value {
    json!({
        "type": "createOrder",
        "payload": {
            "orderId": order,
            "userId": "user-123",
            "items": [{"menuItemId": "menu-item-1", "quantity": 2, "specialInstructions": "no onions"}]
        }
    })
}

#[tokio::test]
async fn a_valid_command_is_accepted_queued_and_readable() {
    let app = TestApp::spawn().await;
    let tenant = app.db.active_tenant().await;
    let token = app.token(tenant);
    let id = Uuid::new_v4();
    let mut body = create_order(Uuid::new_v4());
    body["id"] = json!(id);

    let (status, reply, headers) = app.post(Some(&token), &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    assert_eq!(reply["commandId"], json!(id));
    assert_eq!(reply["status"], "pending");
    assert!(reply["correlationId"]
        .as_str()
        .unwrap()
        .parse::<Uuid>()
        .is_ok());
    assert_eq!(headers["location"], format!("/v1/commands/{id}").as_str());

    let (status, command) = app.get(&token, &format!("/v1/commands/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(command["type"], "createOrder");
    assert_eq!(command["status"], "pending");
    assert_eq!(command["eventSeqs"], json!([]));
    assert_eq!(command["correlationId"], reply["correlationId"]);
    assert_eq!(app.db.count_rows("commands", tenant).await, 1);
}

#[tokio::test]
async fn the_same_id_and_body_returns_the_existing_command_and_another_body_is_a_conflict() {
    let app = TestApp::spawn().await;
    let tenant = app.db.active_tenant().await;
    let token = app.token(tenant);
    let mut body = create_order(Uuid::new_v4());
    body["id"] = json!(Uuid::new_v4());

    let (first, first_reply, _) = app.post(Some(&token), &body).await;
    assert_eq!(first, StatusCode::ACCEPTED);
    let (again, again_reply, _) = app.post(Some(&token), &body).await;
    assert_eq!(again, StatusCode::OK, "{again_reply}");
    assert_eq!(again_reply["commandId"], first_reply["commandId"]);
    assert_eq!(again_reply["correlationId"], first_reply["correlationId"]);

    let mut other = body.clone();
    other["payload"]["items"][0]["quantity"] = json!(3);
    let (conflict, problem, headers) = app.post(Some(&token), &other).await;
    assert_eq!(conflict, StatusCode::CONFLICT);
    assert_eq!(problem["code"], "idempotency_conflict");
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(app.db.count_rows("commands", tenant).await, 1);

    // The same id in another tenant is another command.
    let (other_tenant, _, _) = app
        .post(Some(&app.token(app.db.active_tenant().await)), &other)
        .await;
    assert_eq!(other_tenant, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn malformed_bodies_get_a_problem_naming_the_field_and_leave_no_row() {
    let app = TestApp::spawn().await;
    let tenant = app.db.active_tenant().await;
    let token = app.token(tenant);
    let order = Uuid::new_v4();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut body = create_order(order);
        f(&mut body);
        body.to_string().into_bytes()
    };
    // (label, body, content type, status, code, field)
    type Case<'a> = (&'a str, Vec<u8>, &'a str, u16, &'a str, Option<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "not JSON",
            b"{\"type\": ".to_vec(),
            "application/json",
            400,
            "invalid_json",
            None,
        ),
        (
            "an array",
            b"[1,2]".to_vec(),
            "application/json",
            400,
            "invalid_body",
            None,
        ),
        (
            "no type",
            with(&|b| {
                b.as_object_mut().unwrap().remove("type");
            }),
            "application/json",
            400,
            "invalid_body",
            Some("type"),
        ),
        (
            "unknown type",
            with(&|b| b["type"] = json!("launchRocket")),
            "application/json",
            400,
            "unknown_command_type",
            Some("type"),
        ),
        (
            "internal type",
            with(&|b| {
                b["type"] = json!("markOrderDue");
                b["payload"] = json!({"orderId": order});
            }),
            "application/json",
            400,
            "unknown_command_type",
            Some("type"),
        ),
        (
            "no payload",
            with(&|b| {
                b.as_object_mut().unwrap().remove("payload");
            }),
            "application/json",
            400,
            "invalid_body",
            Some("payload"),
        ),
        (
            "no orderId",
            with(&|b| {
                b["payload"].as_object_mut().unwrap().remove("orderId");
            }),
            "application/json",
            400,
            "invalid_payload",
            Some("payload.orderId"),
        ),
        (
            "orderId not a uuid",
            with(&|b| b["payload"]["orderId"] = json!("order-1")),
            "application/json",
            400,
            "invalid_payload",
            Some("payload.orderId"),
        ),
        (
            "no items",
            with(&|b| b["payload"]["items"] = json!([])),
            "application/json",
            400,
            "invalid_payload",
            Some("payload.items"),
        ),
        (
            "zero quantity",
            with(&|b| b["payload"]["items"][0]["quantity"] = json!(0)),
            "application/json",
            400,
            "invalid_payload",
            Some("payload.items[0].quantity"),
        ),
        (
            "unknown payload field",
            with(&|b| b["payload"]["tip"] = json!(5)),
            "application/json",
            400,
            "invalid_payload",
            Some("payload.tip"),
        ),
        (
            "bad scheduledFor",
            with(&|b| b["payload"]["scheduledFor"] = json!("tomorrow")),
            "application/json",
            400,
            "invalid_payload",
            Some("payload.scheduledFor"),
        ),
        (
            "bad id",
            with(&|b| b["id"] = json!("not-a-uuid")),
            "application/json",
            400,
            "invalid_body",
            Some("id"),
        ),
        (
            "unknown top-level field",
            with(&|b| b["tenantId"] = json!(Uuid::new_v4())),
            "application/json",
            400,
            "invalid_body",
            None,
        ),
        (
            "bad status",
            {
                json!({"type": "updateOrderStatus", "payload": {"orderId": order, "status": "eaten"}}).to_string().into_bytes()
            },
            "application/json",
            400,
            "invalid_payload",
            Some("payload.status"),
        ),
        (
            "wrong content type",
            with(&|_| {}),
            "text/plain",
            415,
            "unsupported_media_type",
            None,
        ),
        (
            "over 64 KiB",
            with(&|b| b["payload"]["items"][0]["specialInstructions"] = json!("x".repeat(70_000))),
            "application/json",
            413,
            "body_too_large",
            None,
        ),
    ];
    assert!(cases.len() >= 12);
    for (label, body, content_type, want_status, want_code, want_field) in cases {
        let (status, problem, headers) = app.post_raw(Some(&token), body, content_type).await;
        assert_eq!(status.as_u16(), want_status, "{label}: {problem}");
        assert_eq!(problem["code"], want_code, "{label}: {problem}");
        assert_eq!(
            headers["content-type"], "application/problem+json",
            "{label}"
        );
        if let Some(field) = want_field {
            assert_eq!(problem["field"], field, "{label}: {problem}");
        }
        assert!(
            !problem["detail"].as_str().unwrap_or("").is_empty(),
            "{label}: a reason is given"
        );
    }
    assert_eq!(
        app.db.count_rows("commands", tenant).await,
        0,
        "nothing was queued"
    );
}

#[tokio::test]
async fn bad_tokens_are_refused_with_a_reason_and_leave_no_row() {
    let app = TestApp::spawn().await;
    let auth = app.settings.auth.clone();
    let tenant = app.db.active_tenant().await;
    let secret = secrecy::ExposeSecret::expose_secret(&auth.hs256_secret).to_owned();
    let claims = tokens::claims(&auth, tenant, 3600);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims.clone();
        f(&mut c);
        tokens::hs256(&secret, &c)
    };
    let now = chrono::Utc::now().timestamp();
    let hs384 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS384),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("missing", None, "token_missing"),
        ("garbage", Some("abc.def".into()), "token_malformed"),
        (
            "expired",
            Some(with(&|c| c["exp"] = json!(now - 600))),
            "token_expired",
        ),
        (
            "not yet valid",
            Some(with(&|c| c["nbf"] = json!(now + 600))),
            "token_not_yet_valid",
        ),
        (
            "wrong issuer",
            Some(with(&|c| c["iss"] = json!("someone-else"))),
            "token_wrong_issuer",
        ),
        (
            "wrong audience",
            Some(with(&|c| c["aud"] = json!("another-app"))),
            "token_wrong_audience",
        ),
        (
            "bad signature",
            Some(tokens::hs256("not-the-secret-not-the-secret-0000", &claims)),
            "token_bad_signature",
        ),
        (
            "no tenant",
            Some(with(&|c| {
                c.as_object_mut().unwrap().remove("tenant_id");
            })),
            "token_bad_tenant",
        ),
        (
            "tenant not a uuid",
            Some(with(&|c| c["tenant_id"] = json!("household-7"))),
            "token_bad_tenant",
        ),
        (
            "no exp",
            Some(with(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            })),
            "token_malformed",
        ),
        ("HS384", Some(hs384), "token_unsupported_algorithm"),
        (
            "RS256 without JWKS",
            Some(tokens::rs256(&claims, tokens::RSA_KID)),
            "token_unsupported_algorithm",
        ),
    ];
    for (label, token, want_code) in cases {
        let (status, problem, headers) = app
            .post(token.as_deref(), &create_order(Uuid::new_v4()))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{label}: {problem}");
        assert_eq!(problem["code"], want_code, "{label}: {problem}");
        assert!(headers.contains_key("www-authenticate"), "{label}");
    }
    // A scheme other than Bearer.
    let response = app
        .http
        .post(format!("{}/v1/commands", app.base))
        .header("authorization", format!("Basic {}", app.token(tenant)))
        .json(&create_order(Uuid::new_v4()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.db.count_rows("commands", tenant).await, 0);
}

#[tokio::test]
async fn events_and_snapshots_stored_at_v1_are_served_at_the_current_version() {
    let app = TestApp::spawn().await;
    let tenant = app.db.active_tenant().await;
    let order = kitchen_domain::AggregateId::new_random();
    app.db.seed_v1_order(tenant, order).await;
    let token = app.token(tenant);
    let get = |path: &'static str| {
        app.http
            .get(format!("{}{path}", app.base))
            .bearer_auth(&token)
            .send()
    };
    let events: Value = get("/v1/events?after=0")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let event = &events["events"][0];
    assert_eq!(event["schemaVersion"], 2, "{events}");
    assert_eq!(event["payload"]["customerId"], "legacy-user");
    let snapshot: Value = get("/v1/snapshot").await.unwrap().json().await.unwrap();
    let aggregate = &snapshot["aggregates"][0];
    assert_eq!(
        aggregate["schemaVersion"], 2,
        "rebuilt at the current shape: {snapshot}"
    );
    assert_eq!(aggregate["state"]["customerId"], "legacy-user");
    assert_eq!(aggregate["state"]["items"][0]["notes"][0], "no salt");
    assert_eq!(snapshot["seq"], 1);
}

#[tokio::test]
async fn an_event_of_a_future_version_is_a_500_that_leaks_nothing() {
    let app = TestApp::spawn().await;
    let tenant = app.db.active_tenant().await;
    let order = kitchen_domain::AggregateId::new_random();
    let [sequence, event, _] = kitchen_test_support::fixtures::v1_order_rows(
        tenant,
        order,
        kitchen_domain::CommandId::new_random(),
    );
    app.db.execute_as_worker(tenant, &sequence).await;
    let future = event.replace("'OrderCreated', 1,", "'OrderCreated', 9,");
    assert_ne!(future, event);
    app.db.execute_as_worker(tenant, &future).await;
    let response = app
        .http
        .get(format!("{}/v1/events?after=0", app.base))
        .bearer_auth(app.token(tenant))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "internal_error");
    assert_eq!(problem["detail"], "internal error", "{problem}");
}

#[tokio::test]
async fn a_tenant_cannot_see_another_tenants_command() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.db.active_tenant().await, app.db.active_tenant().await);
    let (status, reply, _) = app
        .post(Some(&app.token(a)), &create_order(Uuid::new_v4()))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let path = format!("/v1/commands/{}", reply["commandId"].as_str().unwrap());
    assert_eq!(app.get(&app.token(a), &path).await.0, StatusCode::OK);
    let (status, problem) = app.get(&app.token(b), &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    let (status, problem) = app.get(&app.token(a), "/v1/commands/nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["code"], "invalid_command_id");
}

#[tokio::test]
async fn rs256_and_es256_tokens_verify_through_the_jwks_url_and_unknown_kids_are_rate_limited() {
    let jwks = JwksServer::start().await;
    let url = jwks.url.clone();
    let app = TestApp::spawn_with(move |s| {
        s.auth.jwks_url = url;
        s.auth.jwks_min_refetch_secs = 60;
    })
    .await;
    let tenant = app.db.active_tenant().await;
    let claims = tokens::claims(&app.settings.auth, tenant, 3600);
    for token in [
        tokens::rs256(&claims, tokens::RSA_KID),
        tokens::es256(&claims),
    ] {
        let (status, reply, _) = app.post(Some(&token), &create_order(Uuid::new_v4())).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    }
    let fetched = jwks.requests();
    assert!(fetched >= 1, "the key set was fetched");
    for _ in 0..20 {
        let (status, problem, _) = app
            .post(
                Some(&tokens::rs256(&claims, "rotated-away")),
                &create_order(Uuid::new_v4()),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(problem["code"], "token_unknown_key");
    }
    assert!(
        jwks.requests() <= fetched + 1,
        "unknown kids refetched at most once a minute: {} fetches",
        jwks.requests()
    );
    assert_eq!(app.db.count_rows("commands", tenant).await, 2);
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = TestApp::spawn().await;
    let token = app.token(app.db.active_tenant().await);
    app.post(Some(&token), &create_order(Uuid::new_v4())).await;
    app.post(Some(&token), &json!({"type": "nope", "payload": {}}))
        .await;
    app.post(None, &create_order(Uuid::new_v4())).await;
    let healthz = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(healthz.status(), StatusCode::OK);
    // Ready once Postgres answers and the tenant gate's LISTEN connection is up.
    kitchen_test_support::poll::until(
        std::time::Duration::from_secs(10),
        "/readyz 200",
        || async {
            let response = app
                .http
                .get(format!("{}/readyz", app.base))
                .send()
                .await
                .ok()?;
            (response.status() == StatusCode::OK).then_some(())
        },
    )
    .await;
    let metrics = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("kitchen_commands_accepted_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("kitchen_commands_refused_total{reason=\"unknown_command_type\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("kitchen_commands_refused_total{reason=\"token_missing\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("kitchen_command_request_seconds_count 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn readiness_fails_when_postgres_is_unreachable() {
    let app = TestApp::spawn_with(|s| s.database.port = 1).await;
    let response = app
        .http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "not_ready");
    let detail = problem["detail"].as_str().unwrap();
    assert_eq!(
        detail, "not ready: postgres, tenant_listen",
        "names what is down (the tenant gate's LISTEN connection too)"
    );
    assert!(!detail.contains("127.0.0.1"), "no internals leak");
}

#[tokio::test]
async fn tokens_of_a_tenant_that_is_not_active_get_403_on_commands_and_reads_and_write_nothing() {
    let app = TestApp::spawn().await;
    let unknown = TenantId::new_random();
    let provisioning = app.db.tenant_with_status("provisioning").await;
    let disabled = app.db.tenant_with_status("disabled").await;
    for (label, tenant) in [
        ("unknown", unknown),
        ("provisioning", provisioning),
        ("disabled", disabled),
    ] {
        let token = app.token(tenant);
        let (status, problem, headers) =
            app.post(Some(&token), &create_order(Uuid::new_v4())).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{label}: {problem}");
        assert_eq!(problem["code"], "tenant_not_active", "{label}");
        assert_eq!(headers["content-type"], "application/problem+json");
        for path in [
            "/v1/snapshot",
            "/v1/events?after=0",
            "/v1/commands?correlationId=5f0c1d4e-9a43-4a4b-8a52-2d2c7f1e0b11",
            "/v1/commands/5f0c1d4e-9a43-4a4b-8a52-2d2c7f1e0b11",
        ] {
            let (status, problem) = app.get(&token, path).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{label} {path}");
            assert_eq!(problem["code"], "tenant_not_active", "{label} {path}");
        }
        assert_eq!(app.db.count_rows("commands", tenant).await, 0, "{label}");
    }

    // Served while active; refused once disabled (the NOTIFY reaches the
    // gateway's cache), served again once active.
    let tenant = app.db.active_tenant().await;
    let token = app.token(tenant);
    let (status, _, _) = app.post(Some(&token), &create_order(Uuid::new_v4())).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    app.db.set_tenant_status(tenant, "disabled").await;
    kitchen_test_support::poll::until(
        std::time::Duration::from_secs(10),
        "403 once disabled",
        || async {
            let (status, _) = app.get(&token, "/v1/snapshot").await;
            (status == StatusCode::FORBIDDEN).then_some(())
        },
    )
    .await;
    let (status, problem, _) = app.post(Some(&token), &create_order(Uuid::new_v4())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert_eq!(
        app.db.count_rows("commands", tenant).await,
        1,
        "nothing more written"
    );
    app.db.set_tenant_status(tenant, "active").await;
    kitchen_test_support::poll::until(
        std::time::Duration::from_secs(10),
        "served again",
        || async {
            let (status, _) = app.get(&token, "/v1/snapshot").await;
            (status == StatusCode::OK).then_some(())
        },
    )
    .await;
}
