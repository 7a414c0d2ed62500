//! Hydration as seed 000's `useEventStream` does it: the snapshot at seq N plus
//! the events after N equals the state from replaying every event.

use std::collections::BTreeMap;

use kitchen_adapters::config::DbRole;
use kitchen_adapters::postgres::PgEventStore;
use kitchen_domain::aggregate::{Aggregate, AggregateCommand, DomainEvent};
use kitchen_domain::order::{Order, OrderEvent};
use kitchen_domain::service::handle_once;
use kitchen_domain::usecase::EventContext;
use kitchen_domain::{AggregateId, AnyCommand, CommandId, CorrelationId, TenantId};
use kitchen_test_support::fixtures::create_order;
use kitchen_test_support::{tokens, TestDb};
use serde_json::{json, Value};

async fn run(
    store: &PgEventStore,
    tenant: TenantId,
    order: AggregateId,
    command: kitchen_domain::order::OrderCommand,
) {
    let ctx = EventContext {
        tenant,
        command_id: CommandId::new_random(),
        correlation_id: CorrelationId::new_random(),
        metadata: json!({}),
        first_index: 0,
    };
    assert_eq!(command.order_id(), order);
    handle_once(store, &AnyCommand::Order(command), &ctx)
        .await
        .unwrap();
}

fn update(order: AggregateId, status: &str) -> kitchen_domain::order::OrderCommand {
    kitchen_domain::order::OrderCommand::parse(
        "updateOrderStatus",
        &json!({"orderId": order, "status": status}),
    )
    .unwrap()
}

/// Applies events (JSON as served) to states keyed by aggregate id.
fn apply(states: &mut BTreeMap<String, Order>, events: &[Value]) {
    for e in events {
        let event = OrderEvent::from_parts(
            e["type"].as_str().unwrap(),
            e["schemaVersion"].as_i64().unwrap() as i32,
            &e["payload"],
        )
        .unwrap();
        let id = e["aggregateId"].as_str().unwrap().to_owned();
        let state = states.remove(&id).unwrap_or_default();
        states.insert(id, state.evolve(&event));
    }
}

/// `GET {url}` with `token`; the JSON body.
async fn get_json(http: &reqwest::Client, url: String, token: &str) -> Value {
    http.get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn snapshot_at_n_plus_events_after_n_equals_replaying_everything() {
    let db = TestDb::new().await.unwrap();
    let settings = db.platform_settings();
    let base = crate::start_gateway(&settings);
    let http = reqwest::Client::new();
    let tenant = db.active_tenant().await;
    let token = tokens::valid(&settings.auth, tenant);
    let store = PgEventStore::new(db.pool(DbRole::Worker));

    let orders: Vec<AggregateId> = (0..5).map(|_| AggregateId::new_random()).collect();
    for order in &orders {
        run(&store, tenant, *order, create_order(*order)).await;
    }
    run(&store, tenant, orders[0], update(orders[0], "confirmed")).await;

    let snapshot: Value = get_json(&http, format!("{base}/v1/snapshot"), &token).await;
    let n = snapshot["seq"].as_i64().unwrap();
    let epoch: uuid::Uuid = serde_json::from_value(snapshot["epoch"].clone()).unwrap();
    assert!(!epoch.is_nil(), "a written log has an epoch: {snapshot}");
    assert_eq!(n, 6);
    assert_eq!(snapshot["aggregates"].as_array().unwrap().len(), 5);

    // Life goes on after the snapshot.
    run(&store, tenant, orders[0], update(orders[0], "preparing")).await;
    run(&store, tenant, orders[1], update(orders[1], "confirmed")).await;
    let extra = AggregateId::new_random();
    run(&store, tenant, extra, create_order(extra)).await;

    let mut hydrated: BTreeMap<String, Order> = snapshot["aggregates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["aggregateId"].as_str().unwrap().to_owned(),
                serde_json::from_value(a["state"].clone()).unwrap(),
            )
        })
        .collect();
    let after: Value = get_json(&http, format!("{base}/v1/events?after={n}"), &token).await;
    assert_eq!(after["events"].as_array().unwrap().len(), 3);
    assert_eq!(after["nextAfter"], 9);
    apply(&mut hydrated, after["events"].as_array().unwrap());

    let mut replayed = BTreeMap::new();
    let all: Value = get_json(&http, format!("{base}/v1/events?after=0&limit=100"), &token).await;
    apply(&mut replayed, all["events"].as_array().unwrap());
    assert_eq!(hydrated, replayed);
    assert_eq!(hydrated.len(), 6);

    // Paging and bad parameters.
    let page: Value = get_json(&http, format!("{base}/v1/events?after=2&limit=2"), &token).await;
    let seqs: Vec<i64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![3, 4]);
    for query in [
        "after=-1",
        "after=x",
        "limit=0",
        "limit=100000",
        "limit=abc",
    ] {
        let response = http
            .get(format!("{base}/v1/events?{query}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{query}");
    }
    // Another tenant sees an empty world.
    let other = tokens::valid(&settings.auth, db.active_tenant().await);
    let empty: Value = get_json(&http, format!("{base}/v1/snapshot"), &other).await;
    assert_eq!(
        empty,
        json!({"seq": 0, "epoch": uuid::Uuid::nil(), "aggregates": []}),
        "a log never written: seq 0, the nil epoch"
    );
}
