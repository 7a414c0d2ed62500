//! The admin's password never reaches a log line: gateway, pump and worker run
//! in this process (a test binary of its own, so the subscriber below is the
//! process's) with every log at debug level captured, while a household is
//! provisioned with a canary password and a bad request carries it too.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::platform::household;
use common::Stack;
use reqwest::Method;
use serde_json::json;

const CANARY: &str = "canary-L0g-Pa55word-41c2";

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
async fn the_admin_password_is_in_no_log_line_at_debug_level() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "debug,h2=info,hyper=info,hyper_util=info,tower=info,tonic=info,rustls=info",
        ))
        .with_writer(move || writer.clone())
        .init();

    let stack = Stack::full().await;
    let mut bad = household("Home", CANARY);
    bad["admin"]["email"] = json!("nobody");
    let (status, problem) = stack.platform(Method::POST, "/v1/tenants", Some(bad)).await;
    assert_eq!(status, 400, "{problem}");
    let tenant = stack.provision(household("Canaries", CANARY)).await;
    stack.wait_status(tenant, "active").await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("tenant provisioning accepted") && logs.contains("provisioning step done"),
        "the logs are not empty: {} bytes",
        logs.len()
    );
    assert!(logs.contains("DEBUG"), "debug level is on");
    assert!(!logs.contains(CANARY), "the canary password is in the logs");
}
