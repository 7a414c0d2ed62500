//! The published contract against the running services: every body the
//! gateway answers (each operation, each status it can answer) is validated
//! against the OpenAPI document it serves, and every frame realtime sends
//! against `docs/asyncapi.yaml`. The schemas are closed, so an undocumented
//! field or status fails here: the documents cannot drift from the code.
//! Also: one correlation id followed from the POST to the workflow's memo, the
//! command listing and the socket frame.

mod common;

use std::time::Duration;

use common::{create_order_payload, Stack};
use futures_util::StreamExt;
use serde_json::{json, Value};
use temporalio_client::UntypedWorkflow;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

/// The two documents, and validation against them.
struct Contract {
    openapi: Value,
    asyncapi: Value,
}

/// A validator of `schema` (a `$ref` into `document`), resolving refs there.
fn validator(document: &Value, schema: &Value) -> jsonschema::Validator {
    let mut root = schema.clone();
    root["components"] = document["components"].clone();
    jsonschema::draft202012::options()
        .build(&root)
        .unwrap_or_else(|e| panic!("schema {schema} does not compile: {e}"))
}

impl Contract {
    async fn load(stack: &Stack) -> Contract {
        let openapi: Value = stack
            .http
            .get(format!("{}/openapi.json", stack.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(openapi["openapi"], "3.1.0");
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/asyncapi.yaml");
        let asyncapi: Value =
            serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(asyncapi["asyncapi"], "3.0.0");
        Contract { openapi, asyncapi }
    }

    /// Checks that `path`'s `method` documents `status` and that `body`
    /// matches its schema.
    fn check(&self, method: &str, path: &str, status: u16, body: &Value) {
        let operation = &self.openapi["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        let response = &operation["responses"][status.to_string()];
        assert!(
            response.is_object(),
            "{method} {path} answered {status}, which its document does not list"
        );
        let content = response["content"]
            .as_object()
            .and_then(|c| c.values().next())
            .unwrap_or_else(|| panic!("{method} {path} {status} documents no body"));
        let validator = validator(&self.openapi, &content["schema"]);
        let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
        assert!(
            errors.is_empty(),
            "{method} {path} {status}: {body} does not match its schema: {errors:?}"
        );
    }

    /// Checks a socket frame against the AsyncAPI document.
    fn check_frame(&self, frame: &Value) {
        let validator = validator(
            &self.asyncapi,
            &json!({"$ref": "#/components/schemas/StreamFrame"}),
        );
        let errors: Vec<String> = validator
            .iter_errors(frame)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "frame {frame} does not match: {errors:?}"
        );
    }
}

/// Sends `request`; returns the status and the JSON body (`null` if none).
async fn call(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_answer_and_frame_matches_the_published_documents() {
    let stack = Stack::full().await;
    let contract = Contract::load(&stack).await;
    let (http, base, token) = (&stack.http, stack.base.clone(), stack.token());
    let commands = format!("{base}/v1/commands");
    let order = Uuid::new_v4();
    let id = Uuid::new_v4();
    let body = json!({"id": id, "type": "createOrder", "payload": create_order_payload(order)});

    let mut answers = Vec::new();
    let post = |body: &Value| http.post(&commands).bearer_auth(&token).json(body);
    answers.push(("post", "/v1/commands", call(post(&body)).await));
    answers.push(("post", "/v1/commands", call(post(&body)).await));
    let mut other = body.clone();
    other["payload"]["items"][0]["quantity"] = json!(2);
    answers.push(("post", "/v1/commands", call(post(&other)).await));
    answers.push((
        "post",
        "/v1/commands",
        call(post(&json!({"type": "createOrder", "payload": {}}))).await,
    ));
    answers.push((
        "post",
        "/v1/commands",
        call(http.post(&commands).json(&body)).await,
    ));
    answers.push((
        "post",
        "/v1/commands",
        call(
            http.post(&commands)
                .bearer_auth(&token)
                .header("content-type", "text/plain")
                .body("hi"),
        )
        .await,
    ));
    answers.push((
        "post",
        "/v1/commands",
        call(
            http.post(&commands)
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(vec![b' '; 70_000]),
        )
        .await,
    ));
    let statuses: Vec<u16> = answers.iter().map(|(_, _, (s, _))| *s).collect();
    assert_eq!(statuses, [202, 200, 409, 400, 401, 415, 413]);

    let command = stack.wait_final(id, WAIT).await;
    assert_eq!(command["status"], "succeeded", "{command}");
    let correlation = command["correlationId"].as_str().unwrap().to_owned();
    let get = |url: String| http.get(url).bearer_auth(&token);
    for (path, url, want) in [
        ("/v1/commands/{id}", format!("{commands}/{id}"), 200),
        (
            "/v1/commands/{id}",
            format!("{commands}/{}", Uuid::new_v4()),
            404,
        ),
        ("/v1/commands/{id}", format!("{commands}/nope"), 400),
        (
            "/v1/commands",
            format!("{commands}?correlationId={correlation}"),
            200,
        ),
        ("/v1/commands", commands.clone(), 400),
        ("/v1/events", format!("{base}/v1/events?after=0"), 200),
        ("/v1/events", format!("{base}/v1/events?after=x"), 400),
        ("/v1/snapshot", format!("{base}/v1/snapshot"), 200),
        (
            "/v1/views/{name}",
            format!("{base}/v1/views/orderBoard"),
            200,
        ),
        ("/v1/views/{name}", format!("{base}/v1/views/nope"), 404),
    ] {
        let answer = call(get(url)).await;
        assert_eq!(answer.0, want, "{path}: {}", answer.1);
        answers.push(("get", path, answer));
    }
    for path in ["/healthz", "/readyz"] {
        answers.push(("get", path, call(http.get(format!("{base}{path}"))).await));
    }
    // The front door: a tenant that does not exist, a role that may not.
    let auth = &stack.settings.auth;
    let stranger =
        kitchen_test_support::tokens::valid(auth, kitchen_domain::TenantId::new_random());
    let mut member = kitchen_test_support::tokens::claims(auth, stack.tenant, 3600);
    member["role"] = json!("member");
    let member = kitchen_test_support::tokens::hs256(
        secrecy::ExposeSecret::expose_secret(&auth.hs256_secret),
        &member,
    );
    let menu_item = json!({"type": "addMenuItem", "payload": {"menuItemId": "tea", "name": "Tea", "priceCents": 1}});
    let refused = [
        call(http.post(&commands).bearer_auth(&stranger).json(&body)).await,
        call(http.post(&commands).bearer_auth(&member).json(&menu_item)).await,
    ];
    assert_eq!(
        refused
            .iter()
            .map(|(s, b)| (*s, b["code"].clone()))
            .collect::<Vec<_>>(),
        [(403, json!("tenant_not_active")), (403, json!("forbidden")),]
    );
    answers.extend(
        refused
            .into_iter()
            .map(|answer| ("post", "/v1/commands", answer)),
    );
    answers.push((
        "get",
        "/v1/snapshot",
        call(
            http.get(format!("{base}/v1/snapshot"))
                .bearer_auth(&stranger),
        )
        .await,
    ));
    // Login's operations (no user exists: 401; a missing field: 400).
    let login = format!("{base}/v1/auth/token");
    for (path, url, request, want) in [
        (
            "/v1/auth/token",
            login.clone(),
            json!({"tenantId": stack.tenant, "email": "x@example.com", "password": "pw"}),
            401,
        ),
        (
            "/v1/auth/token",
            login,
            json!({"tenantId": stack.tenant}),
            400,
        ),
        (
            "/v1/auth/refresh",
            format!("{base}/v1/auth/refresh"),
            json!({"refreshToken": "nope"}),
            401,
        ),
    ] {
        let answer = call(http.post(url).json(&request)).await;
        assert_eq!(answer.0, want, "{path}: {}", answer.1);
        answers.push(("post", path, answer));
    }
    for (method, path, (status, body)) in &answers {
        contract.check(method, path, *status, body);
    }

    // The stream: catch-up, ready, then a live event and its command's
    // outcome; then a rejected command's outcome.
    let realtime = stack.start_realtime();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "{realtime}/v1/stream?after=0&access_token={token}"
    ))
    .await
    .unwrap();
    let mut frames = Vec::new();
    let mut live = None;
    let mut rejected = None;
    while frames.len() < 5 {
        let message = tokio::time::timeout(WAIT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Message::Text(text) = message {
            frames.push(serde_json::from_str::<Value>(&text).unwrap());
        }
        // Posted once catch-up is over, so its event is the live one.
        if frames.len() == 2 && live.is_none() {
            let menu_item = json!({"menuItemId": "soup", "name": "Soup", "priceCents": 100});
            live = Some(stack.post("addMenuItem", menu_item).await);
        }
        // Once that one is done: a command the domain rejects.
        if frames.len() == 4 && rejected.is_none() {
            let unknown = json!({"orderId": Uuid::new_v4(), "status": "confirmed"});
            rejected = Some(stack.post("updateOrderStatus", unknown).await);
        }
    }
    let kinds: Vec<&str> = frames.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["event", "ready", "event", "command", "command"]);
    assert_eq!(frames[2]["event"]["causationId"], json!(live.unwrap()));
    assert_eq!(frames[3]["commandId"], json!(live.unwrap()));
    assert_eq!(frames[3]["eventSeqs"], json!([frames[2]["event"]["seq"]]));
    assert_eq!(frames[4]["commandId"], json!(rejected.unwrap()));
    assert_eq!(frames[4]["status"], "rejected");
    // A client beyond the head: the reset frame (then close 4009).
    let (mut beyond, _) = tokio_tungstenite::connect_async(format!(
        "{realtime}/v1/stream?after=1000&access_token={token}"
    ))
    .await
    .unwrap();
    let Some(Ok(Message::Text(text))) = tokio::time::timeout(WAIT, beyond.next()).await.unwrap()
    else {
        panic!("a reset frame")
    };
    let reset: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(reset["type"], "reset");
    assert_eq!(
        reset["epoch"], frames[1]["epoch"],
        "ready and reset name one epoch"
    );
    frames.push(reset);
    frames.iter().for_each(|f| contract.check_frame(f));
    // A frame with a field the document does not know fails: the check has teeth.
    let mut extra = frames[1].clone();
    extra["undocumented"] = json!(1);
    let caught = std::panic::catch_unwind(|| contract.check_frame(&extra));
    assert!(
        caught.is_err(),
        "an undocumented field must fail the contract"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_correlation_id_is_followed_from_the_post_to_the_socket_frame() {
    let stack = Stack::full().await;
    let correlation = Uuid::new_v4();
    let mut ids = Vec::new();
    let order = Uuid::new_v4();
    for (command_type, payload) in [
        ("createOrder", create_order_payload(order)),
        (
            "updateOrderStatus",
            json!({"orderId": order, "status": "confirmed"}),
        ),
    ] {
        let response = stack
            .http
            .post(format!("{}/v1/commands", stack.base))
            .bearer_auth(stack.token())
            .json(&json!({"type": command_type, "payload": payload, "correlationId": correlation}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let accepted: Value = response.json().await.unwrap();
        assert_eq!(accepted["correlationId"], json!(correlation));
        ids.push(
            accepted["commandId"]
                .as_str()
                .unwrap()
                .parse::<Uuid>()
                .unwrap(),
        );
        stack.wait_final(*ids.last().unwrap(), WAIT).await;
    }

    // The listing: both commands, in order, with status and event seqs; another
    // tenant sees nothing of it.
    let url = format!("{}/v1/commands?correlationId={correlation}", stack.base);
    let page: Value = stack.get_json(&url, &stack.token()).await;
    let listed: Vec<(Value, Value, Value)> = page["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["commandId"].clone(),
                c["status"].clone(),
                c["eventSeqs"].clone(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (json!(ids[0]), json!("succeeded"), json!([1])),
            (json!(ids[1]), json!("succeeded"), json!([2])),
        ]
    );
    let paged: Value = stack
        .get_json(&format!("{url}&limit=1&after={}", ids[0]), &stack.token())
        .await;
    assert_eq!(paged["commands"][0]["commandId"], json!(ids[1]));
    let stranger =
        kitchen_test_support::tokens::valid(&stack.settings.auth, stack.db.active_tenant().await);
    let theirs: Value = stack.get_json(&url, &stranger).await;
    assert_eq!(theirs["commands"], json!([]));

    // The workflow carries it in its memo.
    let client = kitchen_temporal::connect(&stack.settings.temporal, "contract-test")
        .await
        .unwrap();
    let workflow = kitchen_temporal::workflow_id(stack.tenant, ids[0].try_into().unwrap());
    let description = client
        .get_workflow_handle::<UntypedWorkflow>(&workflow)
        .describe(Default::default())
        .await
        .unwrap();
    let memo = description
        .raw_description
        .workflow_execution_info
        .and_then(|info| info.memo)
        .expect("the workflow has a memo");
    let field = &memo.fields[kitchen_temporal::MEMO_CORRELATION_ID];
    let value: String = serde_json::from_slice(&field.data).unwrap();
    assert_eq!(
        value,
        correlation.to_string(),
        "the memo carries the correlation"
    );

    // And every event (so every socket frame) carries it.
    let realtime = stack.start_realtime();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "{realtime}/v1/stream?after=0&access_token={}",
        stack.token()
    ))
    .await
    .unwrap();
    let mut seen = 0;
    while seen < 2 {
        let message = tokio::time::timeout(WAIT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let Message::Text(text) = message else {
            continue;
        };
        let frame: Value = serde_json::from_str(&text).unwrap();
        if frame["type"] == "event" {
            assert_eq!(
                frame["event"]["correlationId"],
                json!(correlation),
                "{frame}"
            );
            seen += 1;
        }
    }
}
