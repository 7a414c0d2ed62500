//! The write path end to end: HTTP -> commands -> pump -> Temporal -> worker ->
//! events, on real PostgreSQL and a real Temporal dev server.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{create_order_payload, Stack};
use kitchen_test_support::poll;
use serde_json::json;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_posted_order_becomes_succeeded_with_its_event_linked_to_the_command() {
    let stack = Stack::full().await;
    let order = Uuid::new_v4();
    let id = stack.post("createOrder", create_order_payload(order)).await;
    let command = stack.wait_final(id, WAIT).await;
    assert_eq!(command["status"], "succeeded", "{command}");
    assert_eq!(command["eventSeqs"], json!([1]));
    assert_eq!(
        command["workflowId"],
        json!(format!("{}-{id}", stack.tenant))
    );

    let events = stack.events().await;
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.event_type, "OrderCreated");
    assert_eq!((event.seq.get(), event.version.get()), (1, 1));
    assert_eq!(event.aggregate_id.as_uuid(), order);
    assert_eq!(event.causation_id, id, "caused by the command");
    assert_eq!(
        event.correlation_id.to_string(),
        command["correlationId"].as_str().unwrap(),
        "same correlation as the command"
    );
    assert_eq!(event.metadata["userId"], "test-user", "the token's subject");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelling_a_preparing_order_is_rejected_with_the_reason_and_no_event() {
    let stack = Stack::full().await;
    let order = Uuid::new_v4();
    for (command_type, payload) in [
        ("createOrder", create_order_payload(order)),
        (
            "updateOrderStatus",
            json!({"orderId": order, "status": "confirmed"}),
        ),
        (
            "updateOrderStatus",
            json!({"orderId": order, "status": "preparing"}),
        ),
    ] {
        let id = stack.post(command_type, payload).await;
        assert_eq!(stack.wait_final(id, WAIT).await["status"], "succeeded");
    }
    let cancel = stack
        .post(
            "cancelOrder",
            json!({"orderId": order, "reason": "too slow"}),
        )
        .await;
    let command = stack.wait_final(cancel, WAIT).await;
    assert_eq!(command["status"], "rejected", "{command}");
    assert_eq!(command["rejection"]["code"], "order_not_cancellable");
    assert_eq!(
        command["rejection"]["reason"],
        "order cannot be cancelled once it is preparing"
    );
    assert_eq!(command["eventSeqs"], json!([]));
    let events = stack.events().await;
    assert_eq!(events.len(), 3, "no event for the rejected command");
    assert!(events.iter().all(|e| e.causation_id != cancel));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_commands_on_one_order_each_end_once_with_strictly_increasing_versions() {
    let stack = Stack::full().await;
    let order = Uuid::new_v4();
    let created = stack.post("createOrder", create_order_payload(order)).await;
    assert_eq!(stack.wait_final(created, WAIT).await["status"], "succeeded");

    let statuses = ["confirmed", "preparing", "ready", "delivered"];
    let posts = (0..50).map(|i| {
        let stack = &stack;
        async move {
            if i % 5 == 4 {
                stack.post("cancelOrder", json!({"orderId": order})).await
            } else {
                stack
                    .post(
                        "updateOrderStatus",
                        json!({"orderId": order, "status": statuses[i % 4]}),
                    )
                    .await
            }
        }
    });
    let ids = futures_util::future::join_all(posts).await;
    let finals = stack.wait_all_final(&ids, WAIT).await;
    let mut succeeded = 0;
    for (id, command) in &finals {
        let status = command["status"].as_str().unwrap();
        assert!(
            status == "succeeded" || status == "rejected",
            "{id}: {command}"
        );
        succeeded += (status == "succeeded") as usize;
    }
    let events = stack.events().await;
    let versions: Vec<i64> = events.iter().map(|e| e.version.get()).collect();
    assert_eq!(
        versions,
        (1..=events.len() as i64).collect::<Vec<_>>(),
        "strictly increasing, no gap"
    );
    let ids_seen: HashSet<_> = events.iter().map(|e| e.id).collect();
    assert_eq!(ids_seen.len(), events.len(), "no duplicate event");
    assert_eq!(
        events.len(),
        1 + succeeded,
        "one event per succeeded command"
    );
    // At most the 4 forward moves, or a cancel after 0 or 1 of them, can succeed.
    assert!((1..=4).contains(&succeeded), "{succeeded} succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scheduled_order_falls_due_on_a_durable_timer_even_across_a_worker_restart() {
    let mut stack = Stack::full().await;
    let order = Uuid::new_v4();
    let due_at = chrono::Utc::now() + chrono::Duration::seconds(3);
    let mut payload = create_order_payload(order);
    payload["scheduledFor"] = json!(due_at);
    let id = stack.post("createOrder", payload).await;
    assert_eq!(stack.wait_final(id, WAIT).await["status"], "succeeded");

    // The worker goes away while the timer runs, and another one comes back.
    stack.stop_workers().await;
    poll::holds(Duration::from_millis(500), "not due yet", || async {
        stack.events().await.len() == 1
    })
    .await;
    stack.start_worker().await;

    let due = poll::until(WAIT, "an OrderDue event", || async {
        stack
            .events()
            .await
            .into_iter()
            .find(|e| e.event_type == "OrderDue")
    })
    .await;
    assert!(
        due.created_at >= due_at,
        "due event at {} before {}",
        due.created_at,
        due_at
    );
    assert_eq!(due.causation_id, id);
    assert_eq!(due.version.get(), 2);
    poll::holds(
        Duration::from_millis(500),
        "the due event is appended once",
        || async { stack.events().await.len() == 2 },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_menu_goes_through_the_same_pipeline_as_orders() {
    let stack = Stack::full().await;
    let mut statuses = Vec::new();
    for (command_type, payload) in [
        (
            "addMenuItem",
            json!({"menuItemId": "soup", "name": "Tomato soup", "priceCents": 450}),
        ),
        (
            "changeMenuItem",
            json!({"menuItemId": "soup", "priceCents": 500, "available": false}),
        ),
        ("removeMenuItem", json!({"menuItemId": "bread"})),
    ] {
        let id = stack.post(command_type, payload).await;
        statuses.push(stack.wait_final(id, WAIT).await);
    }
    assert_eq!(statuses[0]["status"], "succeeded", "{}", statuses[0]);
    assert_eq!(statuses[1]["status"], "succeeded", "{}", statuses[1]);
    assert_eq!(statuses[2]["status"], "rejected", "{}", statuses[2]);
    assert_eq!(statuses[2]["rejection"]["code"], "menu_item_not_found");
    // One menu per tenant: both events on the same stream, versions 1 and 2.
    assert_eq!(statuses[0]["aggregateId"], statuses[1]["aggregateId"]);
    let events = stack.events().await;
    let types: Vec<(&str, i64)> = events
        .iter()
        .map(|e| (e.event_type.as_str(), e.version.get()))
        .collect();
    assert_eq!(types, [("MenuItemAdded", 1), ("MenuItemChanged", 2)]);
    assert_eq!(events[1].aggregate_type, "menu");
    assert_eq!(
        events[1].payload,
        json!({"menuItemId": "soup", "priceCents": 500, "available": false})
    );
    // The snapshot read serves the menu's current state.
    let snapshot: serde_json::Value = stack
        .get_json(&format!("{}/v1/snapshot", stack.base), &stack.token())
        .await;
    let menu = &snapshot["aggregates"][0];
    assert_eq!(menu["aggregateType"], "menu");
    assert_eq!(menu["schemaVersion"], 1);
    assert_eq!(
        menu["state"]["items"]["soup"],
        json!({"name": "Tomato soup", "priceCents": 500, "available": false})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_menu_command_with_a_bad_payload_is_refused_at_the_door() {
    let stack = Stack::new(|_| {}).await;
    let response = stack
        .http
        .post(format!("{}/v1/commands", stack.base))
        .bearer_auth(stack.token())
        .json(&json!({"type": "addMenuItem",
                      "payload": {"menuItemId": "soup", "name": "Soup", "priceCents": -5}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["field"], "payload.priceCents", "{problem}");
    assert_eq!(stack.db.count_rows("commands", stack.tenant).await, 0);
}
