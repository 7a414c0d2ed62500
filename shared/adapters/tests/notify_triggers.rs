//! The NOTIFY triggers: one small notification per statement on `commands` and
//! `events`, never the whole event, always enough to read the rows by seq.

use std::time::Duration;

use diesel::pg::PgNotification;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures_util::StreamExt;
use kitchen_adapters::config::DbRole;
use kitchen_adapters::postgres::notify::{
    parse_command_notification, parse_command_outcome_notification, parse_events_notification,
    COMMANDS_CHANNEL, COMMAND_OUTCOMES_CHANNEL, EVENTS_CHANNEL,
};
use kitchen_adapters::postgres::PgEventStore;
use kitchen_domain::ports::EventStore;
use kitchen_domain::{AggregateId, Seq, TenantId, Version};
use kitchen_test_support::fixtures::{
    append_created, big_order_created, created_snapshot, order_created, order_stream,
    status_updated,
};
use kitchen_test_support::TestDb;
use secrecy::ExposeSecret;
use serde_json::json;

async fn listener(db: &TestDb, channel: &str) -> AsyncPgConnection {
    let mut conn = AsyncPgConnection::establish(db.url(DbRole::Realtime).expose_secret())
        .await
        .unwrap();
    conn.batch_execute(&format!("LISTEN {channel}"))
        .await
        .unwrap();
    conn
}

async fn next(conn: &mut AsyncPgConnection) -> PgNotification {
    let mut stream = std::pin::pin!(conn.notifications_stream());
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("a notification within 5 s")
        .expect("stream open")
        .expect("notification ok")
}

#[tokio::test]
async fn one_append_is_one_small_notification_naming_tenant_seqs_ids_and_types() {
    let db = TestDb::new().await.unwrap();
    let mut listen = listener(&db, EVENTS_CHANNEL).await;
    let store = PgEventStore::new(db.pool(DbRole::Worker));
    let tenant = TenantId::new_random();
    let order = AggregateId::new_random();
    let (first, second) = (order_created(order), status_updated(order));
    store
        .append(
            tenant,
            &order_stream(order),
            Version::ZERO,
            vec![first.clone(), second.clone()],
            created_snapshot(order),
        )
        .await
        .unwrap();

    let note = next(&mut listen).await;
    assert_eq!(note.channel, EVENTS_CHANNEL);
    let parsed = parse_events_notification(&note.payload).unwrap();
    assert_eq!(parsed.tenant_id, tenant.as_uuid());
    assert_eq!((parsed.first_seq, parsed.last_seq), (1, 2));
    let listed = parsed.events.expect("small batches list their events");
    assert_eq!(
        listed
            .iter()
            .map(|e| (e.seq, e.id, e.event_type.as_str()))
            .collect::<Vec<_>>(),
        vec![
            (1, first.id.as_uuid(), "OrderCreated"),
            (2, second.id.as_uuid(), "OrderStatusUpdated")
        ]
    );
    assert!(
        !note.payload.contains("payload"),
        "event bodies never travel in NOTIFY"
    );
}

#[tokio::test]
async fn an_event_too_big_for_notify_still_notifies_its_seq_range() {
    let db = TestDb::new().await.unwrap();
    let mut listen = listener(&db, EVENTS_CHANNEL).await;
    let store = PgEventStore::new(db.pool(DbRole::Worker));
    let tenant = TenantId::new_random();
    let order = AggregateId::new_random();
    let events = vec![big_order_created(order)];
    assert!(events[0].payload.to_string().len() > 8000);
    store
        .append(
            tenant,
            &order_stream(order),
            Version::ZERO,
            events,
            json!({}),
        )
        .await
        .unwrap();

    let note = next(&mut listen).await;
    assert!(note.payload.len() < 8000);
    let parsed = parse_events_notification(&note.payload).unwrap();
    assert_eq!((parsed.first_seq, parsed.last_seq), (1, 1));
    // The listener fetches the event itself, by seq, through RLS.
    let fetched = PgEventStore::new(db.pool(DbRole::Realtime))
        .read(tenant, Seq::new(parsed.first_seq - 1).unwrap(), 10)
        .await
        .unwrap();
    assert_eq!(fetched.len(), 1);
    assert!(fetched[0].payload.to_string().len() > 8000);
}

#[tokio::test]
async fn a_new_command_notifies_its_tenant_and_id() {
    let db = TestDb::new().await.unwrap();
    let mut listen = listener(&db, COMMANDS_CHANNEL).await;
    let mut gateway = AsyncPgConnection::establish(db.url(DbRole::Gateway).expose_secret())
        .await
        .unwrap();
    let (tenant, id) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    gateway
        .batch_execute(&format!(
            "BEGIN; SELECT set_config('app.tenant_id', '{tenant}', true);
             INSERT INTO commands (tenant_id, id, type, payload, aggregate_id, correlation_id)
             VALUES ('{tenant}', '{id}', 'createOrder', '{{}}', '{id}', '{id}'); COMMIT;"
        ))
        .await
        .unwrap();
    let note = next(&mut listen).await;
    let parsed = parse_command_notification(&note.payload).unwrap();
    assert_eq!((parsed.tenant_id, parsed.id), (tenant, id));
}

#[tokio::test]
async fn a_rolled_back_append_notifies_nobody() {
    let db = TestDb::new().await.unwrap();
    let mut listen = listener(&db, EVENTS_CHANNEL).await;
    let store = PgEventStore::new(db.pool(DbRole::Worker));
    let tenant = TenantId::new_random();
    let order = AggregateId::new_random();
    // Conflict: nothing committed, so nothing notified.
    let _ = store
        .append(
            tenant,
            &order_stream(order),
            Version::new(3).unwrap(),
            vec![status_updated(order)],
            json!({}),
        )
        .await
        .unwrap_err();
    // Then a real append: the first notification seen must be this one.
    append_created(&store, tenant, order).await;
    let parsed = parse_events_notification(&next(&mut listen).await.payload).unwrap();
    assert_eq!((parsed.first_seq, parsed.last_seq), (1, 1));
}

#[tokio::test]
async fn a_household_command_becoming_final_notifies_once_and_nothing_else_does() {
    let db = TestDb::new().await.unwrap();
    let mut listen = listener(&db, COMMAND_OUTCOMES_CHANNEL).await;
    let mut worker = AsyncPgConnection::establish(db.url(DbRole::Worker).expose_secret())
        .await
        .unwrap();
    let tenant = uuid::Uuid::new_v4();
    let (household, platform) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let in_tenant = |sql: &str| {
        format!("BEGIN; SELECT set_config('app.tenant_id', '{tenant}', true); {sql}; COMMIT;")
    };
    let mut owner = AsyncPgConnection::establish(db.url(DbRole::Owner).expose_secret())
        .await
        .unwrap();
    for (id, kind) in [(household, "createOrder"), (platform, "tenant.provision")] {
        owner
            .batch_execute(&in_tenant(&format!(
                "INSERT INTO commands (tenant_id, id, type, payload, aggregate_id, correlation_id)
                 VALUES ('{tenant}', '{id}', '{kind}', '{{}}', '{id}', '{id}')"
            )))
            .await
            .unwrap();
    }
    // Not final yet, a platform command's final status, a rolled-back one:
    // nothing. Then the household command's final status: one notification,
    // and setting it again (no change) adds none.
    for sql in [
        format!("UPDATE commands SET status = 'dispatched' WHERE id = '{household}'"),
        format!("UPDATE commands SET status = 'succeeded' WHERE id = '{platform}'"),
    ] {
        worker.batch_execute(&in_tenant(&sql)).await.unwrap();
    }
    worker
        .batch_execute(&format!(
            "BEGIN; SELECT set_config('app.tenant_id', '{tenant}', true);
             UPDATE commands SET status = 'failed' WHERE id = '{household}'; ROLLBACK;"
        ))
        .await
        .unwrap();
    for _ in 0..2 {
        worker
            .batch_execute(&in_tenant(&format!(
                "UPDATE commands SET status = 'rejected', error = '{{\"code\":\"x\",\"reason\":\"y\"}}' WHERE id = '{household}'"
            )))
            .await
            .unwrap();
    }
    let note = next(&mut listen).await;
    let parsed = parse_command_outcome_notification(&note.payload).unwrap();
    assert_eq!((parsed.tenant_id, parsed.id), (tenant, household));
    let mut stream = std::pin::pin!(listen.notifications_stream());
    let more = tokio::time::timeout(Duration::from_millis(500), stream.next()).await;
    assert!(more.is_err(), "one notification only: {more:?}");
}
