//! No secret reaches a log line: gateway, pump and worker run in this process
//! (a test binary of its own, so the subscriber below is the process's) with
//! every log at debug level captured, while canary secrets go everywhere a
//! secret goes: the HS256 key and the role passwords in the settings (also of
//! a gateway whose database is unreachable, so its connection errors are
//! logged), an admin's password through provisioning, a bad request and a
//! login, and the access and refresh tokens the login hands out.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::platform::household;
use common::Stack;
use kitchen_adapters::shutdown::Shutdown;
use reqwest::Method;
use serde_json::json;

const CANARY: &str = "canary-L0g-Pa55word-41c2";
/// The HS256 key of the stack (a token signed with it is accepted).
const CANARY_KEY: &str = "canary-Hs256-K3y-0f-the-l0gs-test-9a7e1c";
/// The role passwords (only where the server lets any password in, as trust
/// authentication does; elsewhere they go to the unreachable gateway only).
const CANARY_ROLE: &str = "canary-R0le-Pa55word-77d1";

/// Every log line, in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        // Also to stderr when asked (TEST_LOG=1), as every other test does.
        if std::env::var_os("TEST_LOG").is_some() {
            std::io::stderr().write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_secret_is_in_any_log_line_at_debug_level() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "debug,h2=info,hyper=info,hyper_util=info,tower=info,tonic=info,rustls=info",
        ))
        .with_writer(move || writer.clone())
        .init();

    let trust = server_trusts_any_password().await;
    let stack = Stack::full_with(|settings| {
        settings.auth.hs256_secret = CANARY_KEY.into();
        if trust {
            let roles = &mut settings.database.roles;
            roles.gateway = CANARY_ROLE.into();
            roles.pump = CANARY_ROLE.into();
            roles.worker = CANARY_ROLE.into();
        }
    })
    .await;
    let mut bad = household("Home", CANARY);
    bad["admin"]["email"] = json!("nobody");
    let (status, problem) = stack.platform(Method::POST, "/v1/tenants", Some(bad)).await;
    assert_eq!(status, 400, "{problem}");
    let tenant = stack.provision(household("Canaries", CANARY)).await;
    stack.wait_status(tenant, "active").await;

    // The admin logs in, uses the token, refreshes; and fails once.
    let login = |password: &str| {
        stack
            .http
            .post(format!("{}/v1/auth/token", stack.base))
            .json(&json!({"tenantId": tenant.to_string(), "email": "sam@example.com", "password": password}))
            .send()
    };
    let tokens: serde_json::Value = login(CANARY).await.unwrap().json().await.unwrap();
    let access = tokens["accessToken"].as_str().expect("a login").to_owned();
    let refresh = tokens["refreshToken"].as_str().expect("a login").to_owned();
    let wrong = login("canary-Wr0ng-Pa55word").await.unwrap();
    assert_eq!(wrong.status(), 401);
    let menu = stack
        .http
        .post(format!("{}/v1/commands", stack.base))
        .bearer_auth(&access)
        .json(&json!({"type": "addMenuItem", "payload": {"menuItemId": "soup", "name": "Soup", "priceCents": 450}}))
        .send()
        .await
        .unwrap();
    assert_eq!(menu.status(), 202, "{}", menu.text().await.unwrap());
    let refreshed = stack
        .http
        .post(format!("{}/v1/auth/refresh", stack.base))
        .json(&json!({"refreshToken": refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);

    // A gateway whose database is unreachable logs why, with the role password in its settings.
    let mut unreachable = stack.settings.clone();
    unreachable.database.port = kitchen_test_support::process::free_port();
    unreachable.database.roles.gateway = CANARY_ROLE.into();
    let address = command_gateway::build(&unreachable, &Shutdown::new())
        .unwrap()
        .spawn();
    let ready = stack
        .http
        .get(format!("http://{address}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("tenant provisioning accepted") && logs.contains("provisioning step done"),
        "the logs are not empty: {} bytes",
        logs.len()
    );
    assert!(logs.contains("DEBUG"), "debug level is on");
    let signature = access.rsplit('.').next().unwrap();
    for (what, canary) in [
        ("the admin's password", CANARY),
        ("the HS256 key", CANARY_KEY),
        ("a role password", CANARY_ROLE),
        ("the wrong password", "canary-Wr0ng-Pa55word"),
        ("the access token", access.as_str()),
        ("the access token's signature", signature),
        ("the refresh token", refresh.as_str()),
    ] {
        assert!(!logs.contains(canary), "{what} is in the logs");
    }
}

/// Whether the server lets a role in with any password (trust
/// authentication, as on CI here): then the services can run with canary
/// role passwords.
async fn server_trusts_any_password() -> bool {
    use diesel_async::{AsyncConnection, AsyncPgConnection};
    let mut db = kitchen_adapters::config::Settings::load().unwrap().database;
    db.roles.gateway = CANARY_ROLE.into();
    let url = db.url_for(kitchen_adapters::config::DbRole::Gateway, "postgres");
    AsyncPgConnection::establish(secrecy::ExposeSecret::expose_secret(&url))
        .await
        .is_ok()
}
