//! Hostile input at the front door: 1,000 malformed requests of more than 30
//! kinds (bodies, content types, sizes, tokens, headers, paths, query strings,
//! methods), sent concurrently to the real gateway. Each is answered with its
//! documented 4xx as problem+json, and not one row is written. The malformed
//! bodies of `api.rs` are the start of this list; here they come in volume,
//! mixed with every other kind, and with the counts checked on both tables.

use futures_util::StreamExt;
use kitchen_adapters::config::Settings;
use kitchen_domain::TenantId;
use kitchen_test_support::tokens;
use kitchen_test_support::TestDb;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

/// How many requests, in all.
const REQUESTS: usize = 1_000;

/// One kind of malformed request and its documented answer.
struct Kind {
    label: &'static str,
    method: Method,
    path: String,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
}

fn create_order() -> Value {
    json!({
        "type": "createOrder",
        "payload": {
            "orderId": Uuid::new_v4(),
            "userId": "user-1",
            "items": [{"menuItemId": "soup", "quantity": 1}]
        }
    })
}

/// Every kind, for a gateway whose active tenant is `tenant`.
fn kinds(settings: &Settings, tenant: TenantId, disabled: TenantId) -> Vec<Kind> {
    let auth = &settings.auth;
    let secret = secrecy::ExposeSecret::expose_secret(&auth.hs256_secret).to_owned();
    let token = tokens::valid(auth, tenant);
    let with_claims = |f: &dyn Fn(&mut Value)| {
        let mut claims = tokens::claims(auth, tenant, 3600);
        f(&mut claims);
        tokens::hs256(&secret, &claims)
    };
    let member = with_claims(&|c| c["role"] = json!("member"));
    let bearer = |t: &str| format!("Bearer {t}").into_bytes();
    let json_post = |label, body: Vec<u8>, status, code| Kind {
        label,
        method: Method::POST,
        path: "/v1/commands".into(),
        headers: vec![
            ("authorization", bearer(&token)),
            ("content-type", b"application/json".to_vec()),
        ],
        body,
        status,
        code,
    };
    let order_with = |f: &dyn Fn(&mut Value)| {
        let mut body = create_order();
        f(&mut body);
        body.to_string().into_bytes()
    };
    let token_post = |label, authorization: Option<Vec<u8>>, status, code| Kind {
        label,
        method: Method::POST,
        path: "/v1/commands".into(),
        headers: authorization
            .map(|a| ("authorization", a))
            .into_iter()
            .chain([("content-type", b"application/json".to_vec())])
            .collect(),
        body: create_order().to_string().into_bytes(),
        status,
        code,
    };
    let get = |label, path: &str, status, code| Kind {
        label,
        method: Method::GET,
        path: path.into(),
        headers: vec![("authorization", bearer(&token))],
        body: Vec::new(),
        status,
        code,
    };
    let now = chrono::Utc::now().timestamp();
    let mut deep = "[".repeat(10_000);
    deep.push_str(&"]".repeat(10_000));
    vec![
        // Bodies.
        json_post("not JSON", b"{\"type\": ".to_vec(), 400, "invalid_json"),
        json_post("empty body", Vec::new(), 400, "invalid_json"),
        json_post("invalid UTF-8", b"{\"type\": \"\xff\xfe\"}".to_vec(), 400, "invalid_json"),
        json_post("nested 10,000 deep", deep.into_bytes(), 400, "invalid_json"),
        json_post("an array", b"[1,2]".to_vec(), 400, "invalid_body"),
        json_post("a string", b"\"createOrder\"".to_vec(), 400, "invalid_body"),
        json_post("null", b"null".to_vec(), 400, "invalid_body"),
        json_post(
            "no type",
            order_with(&|b| {
                b.as_object_mut().unwrap().remove("type");
            }),
            400,
            "invalid_body",
        ),
        json_post(
            "unknown type",
            order_with(&|b| b["type"] = json!("launchRocket")),
            400,
            "unknown_command_type",
        ),
        json_post(
            "internal type",
            json!({"type": "markOrderDue", "payload": {"orderId": Uuid::new_v4()}})
                .to_string()
                .into_bytes(),
            400,
            "unknown_command_type",
        ),
        json_post(
            "no payload",
            order_with(&|b| {
                b.as_object_mut().unwrap().remove("payload");
            }),
            400,
            "invalid_body",
        ),
        json_post(
            "orderId not a uuid",
            order_with(&|b| b["payload"]["orderId"] = json!("order-1")),
            400,
            "invalid_payload",
        ),
        json_post(
            "quantity 0",
            order_with(&|b| b["payload"]["items"][0]["quantity"] = json!(0)),
            400,
            "invalid_payload",
        ),
        json_post(
            "quantity too large",
            order_with(&|b| b["payload"]["items"][0]["quantity"] = json!(1e30)),
            400,
            "invalid_payload",
        ),
        json_post(
            "101 items",
            order_with(&|b| {
                b["payload"]["items"] = json!(vec![json!({"menuItemId": "a", "quantity": 1}); 101])
            }),
            400,
            "invalid_payload",
        ),
        json_post(
            "unknown payload field",
            order_with(&|b| b["payload"]["tip"] = json!(5)),
            400,
            "invalid_payload",
        ),
        json_post(
            "bad scheduledFor",
            order_with(&|b| b["payload"]["scheduledFor"] = json!("tomorrow")),
            400,
            "invalid_payload",
        ),
        json_post(
            "nil id",
            order_with(&|b| b["id"] = json!(Uuid::nil())),
            400,
            "invalid_body",
        ),
        json_post(
            "bad correlationId",
            order_with(&|b| b["correlationId"] = json!(42)),
            400,
            "invalid_body",
        ),
        json_post(
            "unknown top-level field",
            order_with(&|b| b["tenantId"] = json!(Uuid::new_v4())),
            400,
            "invalid_body",
        ),
        json_post(
            "bad order status",
            json!({"type": "updateOrderStatus", "payload": {"orderId": Uuid::new_v4(), "status": "eaten"}})
                .to_string()
                .into_bytes(),
            400,
            "invalid_payload",
        ),
        json_post(
            "negative price",
            json!({"type": "addMenuItem", "payload": {"menuItemId": "a", "name": "A", "priceCents": -1}})
                .to_string()
                .into_bytes(),
            400,
            "invalid_payload",
        ),
        Kind {
            label: "a member changing the menu",
            headers: vec![
                ("authorization", bearer(&member)),
                ("content-type", b"application/json".to_vec()),
            ],
            ..json_post(
                "",
                json!({"type": "addMenuItem", "payload": {"menuItemId": "a", "name": "A", "priceCents": 1}})
                    .to_string()
                    .into_bytes(),
                403,
                "forbidden",
            )
        },
        // Content types and sizes.
        Kind {
            label: "text/plain",
            headers: vec![
                ("authorization", bearer(&token)),
                ("content-type", b"text/plain".to_vec()),
            ],
            ..json_post("", create_order().to_string().into_bytes(), 415, "unsupported_media_type")
        },
        Kind {
            label: "form-encoded",
            headers: vec![
                ("authorization", bearer(&token)),
                ("content-type", b"application/x-www-form-urlencoded".to_vec()),
            ],
            ..json_post("", b"type=createOrder".to_vec(), 415, "unsupported_media_type")
        },
        json_post(
            "over 64 KiB",
            order_with(&|b| b["payload"]["items"][0]["specialInstructions"] = json!("x".repeat(70_000))),
            413,
            "body_too_large",
        ),
        // Tokens and the Authorization header.
        token_post("no token", None, 401, "token_missing"),
        token_post("garbage token", Some(bearer("abc.def")), 401, "token_malformed"),
        token_post("Basic scheme", Some(format!("Basic {token}").into_bytes()), 401, "token_malformed"),
        token_post("not ASCII", Some(b"Bearer \xe9\xe9".to_vec()), 401, "token_malformed"),
        token_post(
            "expired",
            Some(bearer(&with_claims(&|c| c["exp"] = json!(now - 600)))),
            401,
            "token_expired",
        ),
        token_post(
            "bad signature",
            Some(bearer(&tokens::hs256("not-the-secret-not-the-secret-0000", &tokens::claims(auth, tenant, 3600)))),
            401,
            "token_bad_signature",
        ),
        token_post(
            "alg none",
            Some(bearer(&{
                let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
                parts[0] = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0".into(); // {"alg":"none","typ":"JWT"}
                parts[2] = String::new();
                parts.join(".")
            })),
            401,
            "token_malformed",
        ),
        token_post(
            "wrong audience",
            Some(bearer(&with_claims(&|c| c["aud"] = json!(auth.platform_audience)))),
            401,
            "token_wrong_audience",
        ),
        token_post(
            "tenant not a uuid",
            Some(bearer(&with_claims(&|c| c["tenant_id"] = json!("household-7")))),
            401,
            "token_bad_tenant",
        ),
        token_post(
            "a disabled tenant",
            Some(bearer(&tokens::valid(auth, disabled))),
            403,
            "tenant_not_active",
        ),
        token_post(
            "an unknown tenant",
            Some(bearer(&tokens::valid(auth, TenantId::new_random()))),
            403,
            "tenant_not_active",
        ),
        // Paths, methods and query strings.
        get("command id not a uuid", "/v1/commands/not-a-uuid", 400, "invalid_command_id"),
        get("no such route", "/v1/commandz", 404, "not_found"),
        get("a path escaping upwards", "/v1/../../etc/passwd", 404, "not_found"),
        get("negative after", "/v1/events?after=-1", 400, "invalid_query"),
        get("limit zero", "/v1/events?limit=0", 400, "invalid_query"),
        get("limit not a number", "/v1/events?limit=many", 400, "invalid_query"),
        get("after past i64", "/v1/events?after=18446744073709551616", 400, "invalid_query"),
        get("bad correlationId", "/v1/commands?correlationId=xyz", 400, "invalid_query"),
        get("bad percent-encoding", "/v1/events?after=%zz", 400, "invalid_query"),
        Kind {
            method: Method::PUT,
            ..json_post(
                // A method no route has is answered as an unknown route.
                "PUT on the commands route",
                create_order().to_string().into_bytes(),
                404,
                "not_found",
            )
        },
    ]
}

#[tokio::test]
async fn a_thousand_malformed_requests_get_their_documented_4xx_and_write_nothing() {
    let db = TestDb::new().await.unwrap();
    let mut settings = db.platform_settings();
    // A thousand requests of one tenant in a few seconds are over its rate
    // quota, which answers 429 before the body is read: off here, so each
    // request meets the check it was made for (the quotas have their own tests).
    settings.quotas.commands_per_sec = 0;
    let base = crate::start_gateway(&settings);
    let tenant = db.active_tenant().await;
    let disabled = db.tenant_with_status("disabled").await;
    let kinds = kinds(&settings, tenant, disabled);
    assert!(kinds.len() >= 30, "{} kinds", kinds.len());
    let before = counts(&db, &[tenant, disabled]).await;

    let http = reqwest::Client::new();
    let answers: Vec<(usize, u16, Option<String>, Value)> =
        futures_util::stream::iter((0..REQUESTS).map(|i| {
            let kind = &kinds[i % kinds.len()];
            let mut request = http.request(kind.method.clone(), format!("{base}{}", kind.path));
            for (name, value) in &kind.headers {
                request = request.header(
                    *name,
                    reqwest::header::HeaderValue::from_bytes(value).unwrap(),
                );
            }
            let request = request.body(kind.body.clone());
            let index = i % kinds.len();
            async move {
                let response = request.send().await.expect("the gateway answers");
                let status = response.status().as_u16();
                let content_type = response
                    .headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap_or("").to_owned());
                let body = response.json().await.unwrap_or(Value::Null);
                (index, status, content_type, body)
            }
        }))
        .buffer_unordered(16)
        .collect()
        .await;

    assert_eq!(answers.len(), REQUESTS);
    // Every kind that was answered otherwise than documented, once each.
    let mut wrong = std::collections::BTreeMap::new();
    for (kind, status, content_type, problem) in &answers {
        let kind = &kinds[*kind];
        let as_documented = (*status, problem["code"].as_str()) == (kind.status, Some(kind.code))
            && content_type.as_deref() == Some("application/problem+json")
            && !problem["detail"].as_str().unwrap_or("").is_empty();
        if !as_documented {
            wrong.insert(
                kind.label,
                format!(
                    "want {} {}, got {status} {content_type:?} {problem}",
                    kind.status, kind.code
                ),
            );
        }
    }
    assert!(
        wrong.is_empty(),
        "answered otherwise than documented: {wrong:#?}"
    );
    assert_eq!(
        counts(&db, &[tenant, disabled]).await,
        before,
        "no command or event row was written"
    );
}

/// Rows of `commands` and `events`, per tenant.
async fn counts(db: &TestDb, tenants: &[TenantId]) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for tenant in tenants {
        out.push((
            db.count_rows("commands", *tenant).await,
            db.count_rows("events", *tenant).await,
        ));
    }
    out
}

/// The binary, not only the check: outside a development `KITCHEN_ENV` the
/// gateway refuses the built-in HS256 key and names the setting to change.
#[tokio::test]
async fn the_gateway_refuses_to_start_with_the_development_key_in_production() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_command-gateway"))
        .env("KITCHEN_ENV", "production")
        .env("KITCHEN__GATEWAY__PORT", "0")
        .env("RUST_BACKTRACE", "0")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(30), output)
        .await
        .expect("it stops at once")
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refusing to start: auth.hs256_secret")
            && stderr.contains("KITCHEN__AUTH__HS256_SECRET"),
        "{stderr}"
    );
}
