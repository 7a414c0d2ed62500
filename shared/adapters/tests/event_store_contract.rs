//! Contract of `EventStore`: what the port's docs promise, checked against the
//! real PostgreSQL store and against the in-memory one, so both refuse the
//! same input the same way. Each contract is a generic function; the macro at
//! the bottom runs it on both stores.

use kitchen_adapters::config::DbRole;
use kitchen_adapters::postgres::{migrate, PgEventStore};
use kitchen_domain::catalog::EventValidationError;
use kitchen_domain::memory::InMemoryEventStore;
use kitchen_domain::ports::{EventStore, StoreError};
use kitchen_domain::{AggregateId, EventDecodeError, Seq, StreamRef, TenantId, Version};
use kitchen_test_support::fixtures::{
    append_created, created_snapshot, order_created, order_stream, status_updated,
};
use kitchen_test_support::TestDb;
use serde_json::json;

/// Counts every row of the tenant in the three tables an append writes.
async fn rows_written<S: EventStore>(store: &S, tenant: TenantId) -> (usize, Seq) {
    let events = store.read(tenant, Seq::ZERO, 10_000).await.unwrap();
    (events.len(), store.head(tenant).await.unwrap())
}

async fn appended_events_load_back_with_versions_seqs_and_snapshot<S: EventStore>(store: &S) {
    let tenant = TenantId::new_random();
    let order = AggregateId::new_random();
    let stream = order_stream(order);

    let created = order_created(order);
    let recorded = store
        .append(
            tenant,
            &stream,
            Version::ZERO,
            vec![created.clone()],
            created_snapshot(order),
        )
        .await
        .unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].version.get(), 1);
    assert_eq!(recorded[0].seq.get(), 1);
    assert_eq!(recorded[0].id, created.id);
    assert_eq!(recorded[0].payload, created.payload);
    assert_eq!(recorded[0].causation_id, created.causation_id);
    assert_eq!(recorded[0].correlation_id, created.correlation_id);
    assert_eq!(recorded[0].metadata, json!({"source": "test"}));

    let more = store
        .append(
            tenant,
            &stream,
            Version::new(1).unwrap(),
            vec![status_updated(order), status_updated(order)],
            json!({"state": "placed-later"}),
        )
        .await
        .unwrap();
    assert_eq!(
        more.iter()
            .map(|e| (e.version.get(), e.seq.get()))
            .collect::<Vec<_>>(),
        vec![(2, 2), (3, 3)]
    );

    let loaded = store.load(tenant, &stream).await.unwrap();
    let snapshot = loaded.snapshot.clone().unwrap();
    assert_eq!(snapshot.version.get(), 3);
    assert_eq!(snapshot.seq.get(), 3);
    assert_eq!(snapshot.state, json!({"state": "placed-later"}));
    assert!(loaded.events.is_empty(), "the snapshot covers every event");
    assert_eq!(loaded.version().get(), 3);
    assert_eq!(store.head(tenant).await.unwrap().get(), 3);
}

async fn a_stream_never_written_loads_empty_at_version_zero<S: EventStore>(store: &S) {
    let loaded = store
        .load(
            TenantId::new_random(),
            &order_stream(AggregateId::new_random()),
        )
        .await
        .unwrap();
    assert!(loaded.snapshot.is_none() && loaded.events.is_empty());
    assert_eq!(loaded.version(), Version::ZERO);
}

async fn a_stale_expected_version_is_a_conflict_and_writes_nothing<S: EventStore>(store: &S) {
    let tenant = TenantId::new_random();
    let order = AggregateId::new_random();
    let stream = order_stream(order);
    store
        .append(
            tenant,
            &stream,
            Version::ZERO,
            vec![order_created(order)],
            created_snapshot(order),
        )
        .await
        .unwrap();

    let err = store
        .append(
            tenant,
            &stream,
            Version::ZERO,
            vec![status_updated(order)],
            json!({}),
        )
        .await
        .unwrap_err();
    match err {
        StoreError::Conflict {
            aggregate_id,
            expected,
            actual,
        } => {
            assert_eq!(aggregate_id, order);
            assert_eq!(expected, Version::ZERO);
            assert_eq!(actual, Some(Version::new(1).unwrap()));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(rows_written(store, tenant).await, (1, Seq::new(1).unwrap()));
    let snapshot = store.load(tenant, &stream).await.unwrap().snapshot.unwrap();
    assert_eq!(
        snapshot.state,
        created_snapshot(order),
        "snapshot untouched"
    );
}

async fn a_skipped_version_is_a_conflict_and_writes_nothing<S: EventStore>(store: &S) {
    let tenant = TenantId::new_random();
    let order = AggregateId::new_random();
    let err = store
        .append(
            tenant,
            &order_stream(order),
            Version::new(5).unwrap(),
            vec![status_updated(order)],
            json!({}),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { actual, .. } if actual == Some(Version::ZERO)),
        "{err:?}"
    );
    assert_eq!(rows_written(store, tenant).await, (0, Seq::ZERO));
}

#[tokio::test]
async fn a_negative_version_cannot_even_be_expressed() {
    assert!(Version::new(-1).is_err());
    assert!(serde_json::from_value::<Version>(json!(-3)).is_err());
}

async fn a_payload_that_does_not_match_its_type_is_refused_and_nothing_is_written<S: EventStore>(
    store: &S,
) {
    let tenant = TenantId::new_random();
    let order = AggregateId::new_random();
    let good = order_created(order);

    let mut missing_field = good.clone();
    missing_field.payload = json!({"orderId": order.to_string()});
    let mut wrong_type = good.clone();
    wrong_type.payload["items"] = json!("three pizzas");
    let mut unknown_type = good.clone();
    unknown_type.event_type = "OrderTeleported".into();
    let mut future_schema = good.clone();
    future_schema.schema_version = 9;
    let mut not_an_object = good.clone();
    not_an_object.payload = json!([1, 2, 3]);

    for bad in [
        missing_field,
        wrong_type,
        unknown_type,
        future_schema,
        not_an_object,
    ] {
        let label = format!("{} v{} {}", bad.event_type, bad.schema_version, bad.payload);
        // The bad event comes second: the valid first one must not be written either.
        let err = store
            .append(
                tenant,
                &order_stream(order),
                Version::ZERO,
                vec![good.clone(), bad],
                json!({}),
            )
            .await
            .unwrap_err();
        match err {
            StoreError::InvalidEvent {
                index,
                source: EventValidationError::Decode(decode),
            } => {
                assert_eq!(index, 1, "{label}");
                assert!(
                    matches!(
                        decode,
                        EventDecodeError::InvalidPayload { .. }
                            | EventDecodeError::UnknownType(_)
                            | EventDecodeError::UnknownSchemaVersion { .. }
                    ),
                    "{label}: {decode:?}"
                );
            }
            other => panic!("{label}: expected InvalidEvent, got {other:?}"),
        }
    }
    assert_eq!(rows_written(store, tenant).await, (0, Seq::ZERO));
}

async fn an_unknown_aggregate_type_or_empty_append_is_refused<S: EventStore>(store: &S) {
    let tenant = TenantId::new_random();
    let order = AggregateId::new_random();
    let spaceship = StreamRef::new("spaceship", order);
    let err = store
        .append(
            tenant,
            &spaceship,
            Version::ZERO,
            vec![order_created(order)],
            json!({}),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownAggregateType(ref t) if t == "spaceship"),
        "{err:?}"
    );

    let err = store
        .append(
            tenant,
            &order_stream(order),
            Version::ZERO,
            vec![],
            json!({}),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::EmptyAppend), "{err:?}");
    assert_eq!(rows_written(store, tenant).await, (0, Seq::ZERO));
}

async fn loading_an_aggregate_as_another_type_is_a_typed_error<S: EventStore>(store: &S) {
    let tenant = TenantId::new_random();
    let order = AggregateId::new_random();
    append_created(store, tenant, order).await;
    let err = store
        .load(tenant, &StreamRef::new("invoice", order))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::AggregateTypeMismatch { .. }),
        "{err:?}"
    );
}

async fn replaying_the_same_event_ids_is_a_duplicate_and_writes_nothing<S: EventStore>(store: &S) {
    let tenant = TenantId::new_random();
    let first = AggregateId::new_random();
    let created = order_created(first);
    store
        .append(
            tenant,
            &order_stream(first),
            Version::ZERO,
            vec![created.clone()],
            created_snapshot(first),
        )
        .await
        .unwrap();
    // Same event id on another stream of the tenant: the id is the replay guard.
    let other = AggregateId::new_random();
    let err = store
        .append(
            tenant,
            &order_stream(other),
            Version::ZERO,
            vec![created.clone()],
            json!({}),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::DuplicateEvent { id } if id == Some(created.id)),
        "{err:?}"
    );
    assert_eq!(rows_written(store, tenant).await, (1, Seq::new(1).unwrap()));
    assert!(store
        .load(tenant, &order_stream(other))
        .await
        .unwrap()
        .snapshot
        .is_none());
}

async fn read_pages_in_seq_order_and_refuses_silly_limits<S: EventStore>(store: &S) {
    let tenant = TenantId::new_random();
    for _ in 0..5 {
        let order = AggregateId::new_random();
        append_created(store, tenant, order).await;
    }
    let page = store.read(tenant, Seq::new(1).unwrap(), 2).await.unwrap();
    assert_eq!(
        page.iter().map(|e| e.seq.get()).collect::<Vec<_>>(),
        vec![2, 3]
    );
    let rest = store.read(tenant, Seq::new(3).unwrap(), 100).await.unwrap();
    assert_eq!(
        rest.iter().map(|e| e.seq.get()).collect::<Vec<_>>(),
        vec![4, 5]
    );
    assert!(matches!(
        store.read(tenant, Seq::ZERO, 0).await,
        Err(StoreError::InvalidLimit(0))
    ));
    assert!(matches!(
        store.read(tenant, Seq::ZERO, 10_001).await,
        Err(StoreError::InvalidLimit(_))
    ));
}

async fn seqs_are_per_tenant<S: EventStore>(store: &S) {
    let (a, b) = (TenantId::new_random(), TenantId::new_random());
    for tenant in [a, b, a] {
        let order = AggregateId::new_random();
        append_created(store, tenant, order).await;
    }
    assert_eq!(store.head(a).await.unwrap().get(), 2);
    assert_eq!(store.head(b).await.unwrap().get(), 1);
    let b_events = store.read(b, Seq::ZERO, 100).await.unwrap();
    assert_eq!(b_events.len(), 1);
    assert!(b_events.iter().all(|e| e.tenant_id == b));
}

#[tokio::test]
async fn migrations_are_rerunnable() {
    let db = TestDb::new().await.unwrap();
    let again = migrate::run_pending(&db.url(DbRole::Owner)).await.unwrap();
    assert!(again.is_empty(), "second run applied {again:?}");
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable_not_a_panic() {
    let mut settings = kitchen_adapters::config::Settings::load().unwrap().database;
    settings.port = 1; // nothing listens there
    let pool = kitchen_adapters::postgres::pool(&settings.role_url(DbRole::Worker), 1).unwrap();
    let store = PgEventStore::new(pool);
    let err = store.head(TenantId::new_random()).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

/// Runs each contract on a fresh Postgres database and on a fresh in-memory store.
macro_rules! on_both_stores {
    ($($contract:ident),* $(,)?) => {
        mod postgres {
            use super::*;
            $(
                #[tokio::test]
                async fn $contract() {
                    let db = TestDb::new().await.unwrap();
                    super::$contract(&PgEventStore::new(db.pool(DbRole::Worker))).await;
                }
            )*
        }
        mod memory {
            use super::*;
            $(
                #[tokio::test]
                async fn $contract() {
                    super::$contract(&InMemoryEventStore::new()).await;
                }
            )*
        }
    };
}

on_both_stores!(
    appended_events_load_back_with_versions_seqs_and_snapshot,
    a_stream_never_written_loads_empty_at_version_zero,
    a_stale_expected_version_is_a_conflict_and_writes_nothing,
    a_skipped_version_is_a_conflict_and_writes_nothing,
    a_payload_that_does_not_match_its_type_is_refused_and_nothing_is_written,
    an_unknown_aggregate_type_or_empty_append_is_refused,
    loading_an_aggregate_as_another_type_is_a_typed_error,
    replaying_the_same_event_ids_is_a_duplicate_and_writes_nothing,
    read_pages_in_seq_order_and_refuses_silly_limits,
    seqs_are_per_tenant
);
