//! The read path on the whole stack: commands over HTTP become events that
//! realtime sockets receive, per tenant, in order; and the `kitchen` CLI.

mod common;

use std::time::Duration;

use common::{create_order_payload, Stack};
use futures_util::StreamExt;
use kitchen_test_support::{socket, tokens};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_commands_over_two_tenants_reach_exactly_their_tenants_sockets_in_order() {
    let stack = Stack::full().await;
    let realtime = stack.start_realtime();
    let (a, b) = (
        stack.db.active_tenant().await,
        stack.db.active_tenant().await,
    );
    let mut sockets = Vec::new();
    for tenant in [a, a, b, b] {
        let token = tokens::valid(&stack.settings.auth, tenant);
        sockets.push((tenant, socket::connect(&realtime, &token, 0).await));
    }
    let mut per_tenant = [0usize; 2];
    let posts = (0..200).map(|i| {
        let tenant = if i % 3 == 0 { b } else { a };
        per_tenant[(tenant == b) as usize] += 1;
        let stack = &stack;
        async move {
            stack
                .post_as(tenant, "createOrder", create_order_payload(Uuid::new_v4()))
                .await
        }
    });
    let posts: Vec<_> = posts.collect();
    futures_util::future::join_all(posts).await;
    for (tenant, ws) in sockets.iter_mut() {
        let want = per_tenant[(*tenant == b) as usize];
        let mut seqs = Vec::new();
        while seqs.len() < want {
            let message = tokio::time::timeout(Duration::from_secs(60), ws.next())
                .await
                .expect("events keep coming");
            let Some(Ok(Message::Text(text))) = message else {
                continue;
            };
            let frame: Value = serde_json::from_str(&text).unwrap();
            if frame["type"] == "event" {
                assert_eq!(
                    frame["event"]["tenantId"],
                    tenant.to_string(),
                    "another tenant's event"
                );
                seqs.push(frame["event"]["seq"].as_i64().unwrap());
            }
        }
        assert_eq!(seqs, (1..=want as i64).collect::<Vec<_>>());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scripted_kitchen_session_sends_create_order_and_prints_its_events() {
    let stack = Stack::full().await;
    let realtime = stack.start_realtime();
    let order = Uuid::new_v4();
    // Answers to the prompts: command, orderId, userId, one item, no schedule.
    let script = format!("createOrder\n{order}\nuser-9\nsoup\n2\nno salt\n\n\nexit\n");
    let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let tenant = stack.tenant.to_string();
    let cli = kitchen::Cli::parse_args([
        "kitchen",
        "--tenant",
        &tenant,
        "--gateway",
        &stack.base,
        "--realtime",
        &realtime,
    ])
    .unwrap();
    kitchen::run(
        cli,
        tokio::io::BufReader::new(script.as_bytes()),
        kitchen::Out::new(Shared(output.clone())),
    )
    .await
    .unwrap();
    let text = String::from_utf8(output.lock().unwrap().clone()).unwrap();
    assert!(text.contains("succeeded"), "{text}");
    // The live stream and the command's report both see the event: it is
    // printed once.
    assert_eq!(
        text.matches(&format!("event #1 OrderCreated v1 on {order}"))
            .count(),
        1,
        "{text}"
    );
    assert!(text.contains("\"notes\":[\"no salt\"]"), "{text}");
    assert!(
        text.contains("caught up at seq"),
        "the live stream was running: {text}"
    );
}
