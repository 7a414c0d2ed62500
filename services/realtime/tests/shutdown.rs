//! SIGTERM under load, on the real binary: every socket gets a close frame
//! 1001 whose reason says where to resume (its last seq sent), the process
//! exits 0 within 10 s, and resuming there on a new instance misses nothing.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use kitchen_adapters::config::{DbRole, Settings};
use kitchen_adapters::postgres::PgEventStore;
use kitchen_domain::ports::EventStore;
use kitchen_domain::{AggregateId, TenantId};
use kitchen_test_support::fixtures::append_created;
use kitchen_test_support::socket::{self, Ws};
use kitchen_test_support::temporal::wait_for_port;
use kitchen_test_support::{process, tokens, TestDb};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

async fn connect(settings: &Settings, tenant: TenantId, after: i64) -> Ws {
    let realtime = format!("ws://127.0.0.1:{}", settings.realtime.port);
    socket::connect(&realtime, &tokens::valid(&settings.auth, tenant), after).await
}

async fn append(store: &PgEventStore, tenant: TenantId) -> i64 {
    let order = AggregateId::new_random();
    append_created(store, tenant, order).await[0].seq.get()
}

/// How a socket ended: its last event seq, and the close frame if any.
#[derive(Debug)]
struct Ended {
    last: i64,
    close: Option<(u16, String)>,
}

/// Reads until the socket closes, checking every event is the next seq;
/// publishes the last seq seen in `last`.
async fn read_until_closed(mut ws: Ws, tenant: TenantId, last: Arc<AtomicI64>) -> Ended {
    let mut seen = 0;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text).unwrap();
                if frame["type"] == "event" {
                    assert_eq!(frame["event"]["tenantId"], tenant.to_string());
                    let seq = frame["event"]["seq"].as_i64().unwrap();
                    assert_eq!(seq, seen + 1, "every seq once, in order");
                    seen = seq;
                    last.store(seq, Ordering::SeqCst);
                }
            }
            Some(Ok(Message::Close(frame))) => {
                return Ended {
                    last: seen,
                    close: frame.map(|f| (u16::from(f.code), f.reason.to_string())),
                }
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => {
                return Ended {
                    last: seen,
                    close: None,
                }
            }
        }
    }
}

async fn wait_listening(settings: &Settings) {
    assert!(
        wait_for_port(settings.realtime.port, Duration::from_secs(30)).await,
        "realtime did not listen"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_closes_every_socket_with_1001_and_its_resume_point_then_exits_0() {
    let db = TestDb::new().await.unwrap();
    let mut settings = db.platform_settings();
    settings.realtime.port = process::free_port();
    let mut child = process::spawn(env!("CARGO_BIN_EXE_realtime"), &settings);
    wait_listening(&settings).await;
    let store = PgEventStore::new(db.pool(DbRole::Worker));
    let (a, b) = (db.active_tenant().await, db.active_tenant().await);
    for _ in 0..5 {
        append(&store, a).await;
        append(&store, b).await;
    }

    let mut readers = Vec::new();
    for tenant in [a, a, b] {
        let ws = connect(&settings, tenant, 0).await;
        let last = Arc::new(AtomicI64::new(0));
        let task = tokio::spawn(read_until_closed(ws, tenant, last.clone()));
        readers.push((tenant, last, task));
    }
    // Load: both tenants keep appending until the end of the test.
    let stop = Arc::new(AtomicBool::new(false));
    let appender = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::spawn(async move {
            let mut appended = 0;
            while !stop.load(Ordering::SeqCst) {
                append(&store, if appended % 2 == 0 { a } else { b }).await;
                appended += 1;
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while readers
        .iter()
        .any(|(_, last, _)| last.load(Ordering::SeqCst) < 30)
    {
        assert!(Instant::now() < deadline, "sockets did not get live events");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (status, took) = process::terminate(&mut child, Duration::from_secs(10)).await;
    assert!(status.success(), "exit status {status:?}");
    println!("realtime exited {status:?} {took:?} after SIGTERM");

    let mut resume = None;
    for (tenant, _, task) in readers {
        let ended = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the socket ended with the process")
            .unwrap();
        let Some((code, reason)) = ended.close else {
            panic!(
                "socket of {tenant} was cut without a close frame after seq {}",
                ended.last
            )
        };
        assert_eq!(code, 1001, "{reason}");
        assert_eq!(
            reason,
            format!("server going away; reconnect with after={}", ended.last),
            "the hint names the last seq this socket got"
        );
        resume.get_or_insert((tenant, ended.last));
    }
    stop.store(true, Ordering::SeqCst);
    appender.await.unwrap();

    // Resuming where the hint says, on a new instance: the very next seq. One
    // more event after the close, so there is always a next seq to resume to
    // (the appender may not have got one in under load).
    let (tenant, after) = resume.unwrap();
    append_created(&store, tenant, AggregateId::new_random()).await;
    let head = store.head(tenant).await.unwrap().get();
    assert!(head > after, "events were appended after the close");
    settings.realtime.port = process::free_port();
    let mut again = process::spawn(env!("CARGO_BIN_EXE_realtime"), &settings);
    wait_listening(&settings).await;
    let mut ws = connect(&settings, tenant, after).await;
    let first = loop {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame")
            .expect("open")
            .unwrap();
        if let Message::Text(text) = message {
            let frame: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(frame["type"], "event", "{frame}");
            break frame["event"]["seq"].as_i64().unwrap();
        }
    };
    assert_eq!(first, after + 1, "resuming at the hint misses nothing");
    let (status, _) = process::terminate(&mut again, Duration::from_secs(10)).await;
    assert!(status.success());
}
