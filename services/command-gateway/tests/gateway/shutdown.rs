//! SIGTERM under load, on the real binary: the gateway stops accepting, still
//! answers a request that is in flight (its body only half sent when the
//! signal arrives), exits 0 within 10 s, and every command it answered 202 is
//! stored.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kitchen_test_support::temporal::wait_for_port;
use kitchen_test_support::{process, tokens, TestDb};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn create_order() -> String {
    json!({"type": "createOrder", "payload": {
        "orderId": uuid::Uuid::new_v4(), "userId": "u",
        "items": [{"menuItemId": "soup", "quantity": 1}]}})
    .to_string()
}

/// What the load saw.
#[derive(Debug, Default)]
struct Load {
    accepted: AtomicUsize,
    /// Answers other than 202, as "status body", to say what went wrong.
    other: Mutex<Vec<String>>,
    failed: AtomicUsize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_answers_the_request_in_flight_stores_every_accepted_command_and_exits_0() {
    let db = TestDb::new().await.unwrap();
    let mut settings = db.platform_settings();
    let port = process::free_port();
    settings.gateway.port = port;
    let mut child = process::spawn(env!("CARGO_BIN_EXE_command-gateway"), &settings);
    assert!(wait_for_port(port, Duration::from_secs(30)).await);
    let tenant = db.active_tenant().await;
    let token = tokens::valid(&settings.auth, tenant);
    let url = format!("http://127.0.0.1:{port}/v1/commands");

    // Load: clients posting until the gateway stops taking connections (one
    // connection per request, so a refused connect is how they learn).
    let load = Arc::new(Load::default());
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (load, token, url) = (load.clone(), token.clone(), url.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::builder()
                    .pool_max_idle_per_host(0)
                    .build()
                    .unwrap();
                loop {
                    let sent = http
                        .post(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(create_order())
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status() == 202 => {
                            load.accepted.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(r) => {
                            let status = r.status();
                            let body = r.text().await.unwrap_or_default();
                            load.other.lock().unwrap().push(format!("{status} {body}"));
                        }
                        Err(e) if e.is_connect() => return,
                        Err(_) => {
                            load.failed.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            })
        })
        .collect();

    // One request in flight: on a connection the gateway already serves (a
    // first request answered), the headers and half the body of a POST.
    let mut raw = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    raw.write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 512];
    let n = raw.read(&mut first).await.unwrap();
    assert!(first[..n].starts_with(b"HTTP/1.1 200"));
    let body = create_order();
    let (head, tail) = body.split_at(body.len() / 2);
    raw.write_all(
        format!(
            "POST /v1/commands HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    while load.accepted.load(Ordering::SeqCst) < 50 {
        assert!(Instant::now() < deadline, "no load: {load:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let signalled = Instant::now();
    process::send_signal(child.id().unwrap(), "TERM");
    // The gateway is stopping once it refuses new connections; only then does
    // the in-flight request get the rest of its body.
    while TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
        assert!(
            signalled.elapsed() < Duration::from_secs(5),
            "still accepting connections 5 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    raw.write_all(tail.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(5), raw.read_to_string(&mut response))
        .await
        .expect("the in-flight request is answered")
        .unwrap();
    assert!(
        response.starts_with("HTTP/1.1 202"),
        "in-flight request: {response}"
    );

    let status = tokio::time::timeout(
        Duration::from_secs(10).saturating_sub(signalled.elapsed()),
        child.wait(),
    )
    .await
    .expect("exited within 10 s of SIGTERM")
    .unwrap();
    assert!(status.success(), "exit status {status:?}");
    println!(
        "gateway exited {status:?} {:?} after SIGTERM; load: {load:?}",
        signalled.elapsed()
    );
    for client in clients {
        tokio::time::timeout(Duration::from_secs(5), client)
            .await
            .expect("clients stop once connections are refused")
            .unwrap();
    }
    assert!(load.other.lock().unwrap().is_empty(), "{load:?}");
    // Every 202 is a stored command (+1: the in-flight one). A request whose
    // connection was cut before an answer may or may not have been stored.
    let stored = db.count_rows("commands", tenant).await as usize;
    let accepted = load.accepted.load(Ordering::SeqCst) + 1;
    let unanswered = load.failed.load(Ordering::SeqCst);
    assert!(
        (accepted..=accepted + unanswered).contains(&stored),
        "{stored} stored, {accepted} accepted, {unanswered} unanswered"
    );
}
