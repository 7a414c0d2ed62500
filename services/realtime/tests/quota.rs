//! Sockets per tenant (issue 15): past `quotas.max_sockets` the upgrade is
//! refused with 429 `tenant_socket_limit` + `Retry-After`, counted in the
//! metrics; another tenant is untouched, and a closed socket frees its place.

use std::time::Duration;

use kitchen_domain::TenantId;
use kitchen_test_support::socket::{self, next_frame};
use kitchen_test_support::{poll, tokens, TestDb};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The upgrade's HTTP refusal: status, `Retry-After` and the problem's code.
async fn refused_upgrade(realtime: &str, token: &str) -> (u16, Option<String>, String) {
    let mut request = format!("{realtime}/v1/stream?after=0")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            (response.status().as_u16(), retry_after, body)
        }
        Ok(_) => panic!("the upgrade past the quota was accepted"),
        Err(e) => panic!("unexpected error: {e}"),
    }
}

#[tokio::test]
async fn a_tenant_past_its_socket_quota_is_refused_at_the_upgrade_and_a_closed_socket_frees_a_place(
) {
    let db = TestDb::new().await.unwrap();
    let mut settings = db.platform_settings();
    settings.quotas.max_sockets = 2;
    let address = realtime::build(&settings, &kitchen_adapters::shutdown::Shutdown::new())
        .unwrap()
        .spawn()
        .to_string();
    let realtime = format!("ws://{address}");
    let (busy, other) = (db.active_tenant().await, db.active_tenant().await);
    let token = |tenant: TenantId| tokens::valid(&settings.auth, tenant);

    let mut first = socket::connect(&realtime, &token(busy), 0).await;
    let mut second = socket::connect(&realtime, &token(busy), 0).await;
    for ws in [&mut first, &mut second] {
        assert_eq!(next_frame(ws).await.unwrap()["type"], "ready");
    }
    let (status, retry_after, body) = refused_upgrade(&realtime, &token(busy)).await;
    assert_eq!(status, 429, "{body}");
    assert!(retry_after.is_some(), "Retry-After is set");
    assert!(body.contains("tenant_socket_limit"), "{body}");

    // Another tenant has its own quota.
    let mut theirs = socket::connect(&realtime, &token(other), 0).await;
    assert_eq!(next_frame(&mut theirs).await.unwrap()["type"], "ready");

    // Closing one socket frees its place (once the server has seen the close).
    first.close(None).await.unwrap();
    drop(first);
    let mut third = poll::until(
        Duration::from_secs(10),
        "a place freed by a closed socket",
        || async {
            let mut request = format!("{realtime}/v1/stream?after=0")
                .into_client_request()
                .unwrap();
            request.headers_mut().insert(
                "authorization",
                format!("Bearer {}", token(busy)).parse().unwrap(),
            );
            tokio_tungstenite::connect_async(request)
                .await
                .ok()
                .map(|(ws, _)| ws)
        },
    )
    .await;
    assert_eq!(next_frame(&mut third).await.unwrap()["type"], "ready");

    let metrics = reqwest::get(format!("http://{address}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("kitchen_realtime_refused_total{reason=\"tenant_socket_limit\"}"),
        "{metrics}"
    );
}
