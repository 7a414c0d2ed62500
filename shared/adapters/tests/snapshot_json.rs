//! `GET /v1/snapshot`'s body as PostgreSQL writes it (issue 17): the same
//! JSON value as the decoded snapshot encoded by the wire type, the stored
//! states passed through, one tenant's aggregates only; and a tenant with a
//! snapshot of an older shape takes the decoding path, which rebuilds it.

use kitchen_adapters::config::DbRole;
use kitchen_adapters::postgres::read_model::{tenant_snapshot, tenant_snapshot_json, SnapshotBody};
use kitchen_adapters::postgres::PgEventStore;
use kitchen_domain::ports::EventStore;
use kitchen_domain::{AggregateId, TenantId, Version};
use kitchen_test_support::fixtures::{order_created, order_stream};
use kitchen_test_support::TestDb;
use kitchen_wire::{SnapshotView, TenantSnapshotView};
use serde_json::{json, Value};

/// The body of the JSON path; panics if the tenant took the decoding path.
async fn body(db: &TestDb, tenant: TenantId) -> String {
    match tenant_snapshot_json(&db.pool(DbRole::Gateway), tenant)
        .await
        .unwrap()
    {
        SnapshotBody::Json(body) => body,
        SnapshotBody::Decoded(s) => panic!("decoded instead: {s:?}"),
    }
}

/// What the decoding path encodes with the wire type (the body before issue 17).
async fn encoded(db: &TestDb, tenant: TenantId) -> Value {
    let snapshot = tenant_snapshot(&db.pool(DbRole::Gateway), tenant)
        .await
        .unwrap();
    serde_json::to_value(TenantSnapshotView {
        seq: snapshot.seq.get(),
        epoch: snapshot.epoch,
        aggregates: snapshot.aggregates.iter().map(SnapshotView::from).collect(),
    })
    .unwrap()
}

#[tokio::test]
async fn the_body_postgres_writes_is_the_wire_types_value_with_states_as_stored() {
    let db = TestDb::new().await.unwrap();
    let store = PgEventStore::new(db.pool(DbRole::Worker));
    let (tenant, other) = (TenantId::new_random(), TenantId::new_random());
    // States that JSON text has to get right: escapes, unicode, numbers.
    let tricky = json!({
        "note": "a \"quote\", a \\ backslash, a tab\t, é, ☃, \u{1}",
        "price": 12.5, "big": 9_007_199_254_740_993i64, "negative": -3,
        "nested": {"b": [1, {"a": null}], "a": true},
    });
    let orders: Vec<AggregateId> = (0..3).map(|_| AggregateId::new_random()).collect();
    for (i, order) in orders.iter().enumerate() {
        let state = if i == 1 {
            tricky.clone()
        } else {
            json!({"n": i})
        };
        store
            .append(
                tenant,
                &order_stream(*order),
                Version::ZERO,
                vec![order_created(*order)],
                state,
            )
            .await
            .unwrap();
    }
    let foreign = AggregateId::new_random();
    store
        .append(
            other,
            &order_stream(foreign),
            Version::ZERO,
            vec![order_created(foreign)],
            json!({}),
        )
        .await
        .unwrap();

    let text = body(&db, tenant).await;
    let served: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(served, encoded(&db, tenant).await);
    assert_eq!(
        served["aggregates"][1]["state"], tricky,
        "stored state passed through"
    );
    // The wire type reads it back (every field, no unknown one), in seq order.
    let view: TenantSnapshotView = serde_json::from_str(&text).unwrap();
    assert_eq!(view.seq, 3);
    let ids: Vec<_> = view.aggregates.iter().map(|a| a.aggregate_id).collect();
    assert_eq!(ids, orders.iter().map(|o| o.as_uuid()).collect::<Vec<_>>());
    assert!(
        !text.contains(&foreign.to_string()),
        "no other tenant's aggregate"
    );
    assert!(text.starts_with(r#"{"seq":3,"epoch":""#), "{text}");

    // A log never written: seq 0 and the nil epoch, byte for byte.
    assert_eq!(
        body(&db, TenantId::new_random()).await,
        r#"{"seq":0,"epoch":"00000000-0000-0000-0000-000000000000","aggregates":[]}"#
    );
}

#[tokio::test]
async fn a_tenant_with_an_older_shape_snapshot_is_decoded_and_rebuilt() {
    let db = TestDb::new().await.unwrap();
    let tenant = TenantId::new_random();
    let order = AggregateId::new_random();
    db.seed_v1_order(tenant, order).await;
    match tenant_snapshot_json(&db.pool(DbRole::Gateway), tenant)
        .await
        .unwrap()
    {
        SnapshotBody::Decoded(snapshot) => {
            assert_eq!(snapshot.aggregates.len(), 1);
            assert_eq!(snapshot.aggregates[0].schema_version, 2);
            assert_eq!(snapshot.aggregates[0].state["customerId"], "legacy-user");
        }
        SnapshotBody::Json(body) => panic!("an older shape was served as stored: {body}"),
    }
}
