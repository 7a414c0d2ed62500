//! The hot statements stay prepared on their connection, so each runs in one
//! round trip after its first use (diesel would otherwise prepare, run and close
//! every UPDATE, upsert, multi-row INSERT and `sql_query`: two round trips).

use diesel::sql_types::BigInt;
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use kitchen_adapters::config::DbRole;
use kitchen_adapters::postgres::{self, PgCommandQueue, PgEventStore};
use kitchen_domain::ports::{CommandQueue, EventStore};
use kitchen_domain::queue::NewCommand;
use kitchen_domain::{AggregateId, CommandId, CorrelationId, TenantId, Version};
use kitchen_test_support::fixtures::{
    created_snapshot, order_created, order_stream, status_updated,
};
use kitchen_test_support::TestDb;
use serde_json::json;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// How many statements prepared on this (only) connection of `pool` start with `prefix`.
async fn prepared_starting_with(pool: &postgres::PgPool, prefix: &str) -> i64 {
    let mut conn = pool.get().await.unwrap();
    let count: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM pg_prepared_statements WHERE statement LIKE $1 || '%'",
    )
    .bind::<diesel::sql_types::Text, _>(prefix)
    .get_result(&mut conn)
    .await
    .unwrap();
    count.n
}

#[tokio::test]
async fn an_append_keeps_its_writes_prepared_and_reuses_them() {
    let db = TestDb::new().await.unwrap();
    // One connection, so the second append runs where the first prepared.
    let pool = postgres::pool(&db.url(DbRole::Worker), 1).unwrap();
    let store = PgEventStore::new(pool.clone());
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
    store
        .append(
            tenant,
            &stream,
            Version::new(1).unwrap(),
            vec![status_updated(order)],
            created_snapshot(order),
        )
        .await
        .unwrap();
    assert_eq!(
        prepared_starting_with(&pool, "SELECT append_events(").await,
        1,
        "the append's one statement is prepared once and reused"
    );
    assert_eq!(
        EventStore::load(&store, tenant, &stream)
            .await
            .unwrap()
            .version(),
        Version::new(2).unwrap()
    );
}

#[tokio::test]
async fn the_gateway_insert_is_prepared_once_for_every_command() {
    let db = TestDb::new().await.unwrap();
    let pool = postgres::pool(&db.url(DbRole::Gateway), 1).unwrap();
    let queue = PgCommandQueue::new(pool.clone());
    let tenant = TenantId::new_random();
    for _ in 0..3 {
        let order = AggregateId::new_random();
        queue
            .enqueue(NewCommand {
                id: CommandId::new_random(),
                tenant_id: tenant,
                command_type: "createOrder".into(),
                payload: json!({"orderId": order, "items": [{"sku": "tea", "quantity": 1}]}),
                aggregate_id: order,
                user_id: None,
                correlation_id: CorrelationId::new_random(),
                metadata: json!({}),
            })
            .await
            .unwrap();
    }
    assert_eq!(
        prepared_starting_with(&pool, "WITH tenant AS MATERIALIZED").await,
        1
    );
    assert_eq!(db.count_rows("commands", tenant).await, 3);
}
