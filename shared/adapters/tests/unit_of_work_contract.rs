//! Contract of the worker's unit of work on the real PostgreSQL: a retry after
//! a crash returns the stored outcome, conflicts are retried, a rejection is
//! final, timers append once, nothing is half-written on any error; and a
//! database seeded with raw v1 rows by SQL (as release 1 left it) reads as v2
//! on every path, its snapshots rebuilt and rewritten.

use kitchen_adapters::config::DbRole;
use kitchen_adapters::postgres::read_model::tenant_snapshot;
use kitchen_adapters::postgres::unit_of_work::{CommandUnitOfWork, UnitOfWorkError};
use kitchen_adapters::postgres::{PgCommandQueue, PgEventStore};
use kitchen_domain::ports::{CommandQueue, EventStore, StoreError};
use kitchen_domain::queue::{CommandOutcome, CommandStatus};
use kitchen_domain::{AggregateId, AnyCommand, CommandId, Seq, TenantId};
use kitchen_test_support::fixtures::{order_stream, queued_command};
use kitchen_test_support::TestDb;
use serde_json::{json, Value};

struct Fixture {
    db: TestDb,
    tenant: TenantId,
    queue: PgCommandQueue,
    store: PgEventStore,
    uow: CommandUnitOfWork,
}

impl Fixture {
    async fn new() -> Fixture {
        let db = TestDb::new().await.unwrap();
        Fixture {
            tenant: TenantId::new_random(),
            queue: PgCommandQueue::new(db.pool(DbRole::Gateway)),
            store: PgEventStore::new(db.pool(DbRole::Worker)),
            uow: CommandUnitOfWork::new(db.pool(DbRole::Worker)),
            db,
        }
    }

    /// Queues a command as the gateway does (through the catalog).
    async fn queue(&self, command_type: &str, payload: Value) -> CommandId {
        let command = queued_command(self.tenant, command_type, &payload);
        let id = command.id;
        self.queue.enqueue(command).await.unwrap();
        id
    }

    async fn run(&self, command_type: &str, payload: Value) -> (CommandId, CommandOutcome) {
        let id = self.queue(command_type, payload).await;
        (id, self.uow.run(self.tenant, id).await.unwrap())
    }

    async fn status(&self, id: CommandId) -> CommandStatus {
        self.queue
            .get(self.tenant, id)
            .await
            .unwrap()
            .unwrap()
            .status
    }

    async fn head(&self) -> i64 {
        self.store.head(self.tenant).await.unwrap().get()
    }
}

fn create(order: AggregateId) -> Value {
    json!({"orderId": order, "userId": "sam", "items": [{"menuItemId": "soup", "quantity": 1,
           "specialInstructions": "extra hot"}]})
}

fn succeeded_seqs(outcome: &CommandOutcome) -> Vec<i64> {
    match outcome {
        CommandOutcome::Succeeded { seqs, .. } => seqs.clone(),
        other => panic!("expected success, got {other:?}"),
    }
}

#[tokio::test]
async fn a_command_appends_its_events_and_a_retry_returns_the_stored_outcome() {
    let f = Fixture::new().await;
    let order = AggregateId::new_random();
    let (id, first) = f.run("createOrder", create(order)).await;
    assert_eq!(succeeded_seqs(&first), vec![1]);
    assert_eq!(f.status(id).await, CommandStatus::Succeeded);
    // A retry (the activity re-run after a crash) appends nothing more.
    let again = f.uow.run(f.tenant, id).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(f.head().await, 1);
    let events = f.store.read(f.tenant, Seq::ZERO, 10).await.unwrap();
    assert_eq!(
        events[0].schema_version, 2,
        "writers write the newest version"
    );
    assert_eq!(events[0].payload["customerId"], "sam");
    assert_eq!(events[0].payload["items"][0]["notes"], json!(["extra hot"]));
}

#[tokio::test]
async fn a_rejection_is_final_and_writes_no_event() {
    let f = Fixture::new().await;
    let (id, outcome) = f
        .run("cancelOrder", json!({"orderId": AggregateId::new_random()}))
        .await;
    assert!(
        matches!(&outcome, CommandOutcome::Rejected { code, .. } if code == "order_not_found"),
        "{outcome:?}"
    );
    assert_eq!(f.status(id).await, CommandStatus::Rejected);
    assert_eq!(f.uow.run(f.tenant, id).await.unwrap(), outcome);
    assert_eq!(f.head().await, 0);
}

#[tokio::test]
async fn concurrent_commands_on_one_aggregate_are_retried_past_their_conflicts() {
    let f = Fixture::new().await;
    f.run(
        "addMenuItem",
        json!({"menuItemId": "soup", "name": "Soup", "priceCents": 100}),
    )
    .await;
    let mut ids = Vec::new();
    for price in 101..111 {
        ids.push(
            f.queue(
                "changeMenuItem",
                json!({"menuItemId": "soup", "priceCents": price}),
            )
            .await,
        );
    }
    let runs = ids.iter().map(|id| f.uow.run(f.tenant, *id));
    let outcomes = futures_util::future::join_all(runs).await;
    let mut seqs: Vec<i64> = outcomes
        .iter()
        .flat_map(|o| succeeded_seqs(o.as_ref().unwrap()))
        .collect();
    seqs.sort();
    assert_eq!(seqs, (2..=11).collect::<Vec<_>>(), "each once, no gap");
    let menu = AnyCommand::parse("removeMenuItem", &json!({"menuItemId": "soup"}))
        .unwrap()
        .stream(f.tenant);
    assert_eq!(
        f.store.load(f.tenant, &menu).await.unwrap().version().get(),
        11
    );
}

#[tokio::test]
async fn a_timer_appends_its_events_once_and_not_after_a_cancel() {
    let f = Fixture::new().await;
    let order = AggregateId::new_random();
    let mut payload = create(order);
    payload["scheduledFor"] = json!("2030-01-01T18:30:00Z");
    let (id, outcome) = f.run("createOrder", payload).await;
    let CommandOutcome::Succeeded { timers, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(timers.len(), 1);
    assert_eq!(timers[0].due_at.to_rfc3339(), "2030-01-01T18:30:00+00:00");
    let fired = f.uow.fire_timer(f.tenant, id, 0).await.unwrap();
    assert_eq!(fired, Some(vec![2]));
    // Fired again (a retried activity): the order is already due, nothing more.
    assert_eq!(f.uow.fire_timer(f.tenant, id, 0).await.unwrap(), None);
    // A timer the command never asked for does nothing.
    assert_eq!(f.uow.fire_timer(f.tenant, id, 5).await.unwrap(), None);
    let events = f.store.read(f.tenant, Seq::ZERO, 10).await.unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["OrderCreated", "OrderDue"]);
    assert_eq!(events[1].causation_id, id.as_uuid());

    let other = AggregateId::new_random();
    let mut payload = create(other);
    payload["scheduledFor"] = json!("2030-01-01T18:30:00Z");
    let (id, _) = f.run("createOrder", payload).await;
    f.run("cancelOrder", json!({"orderId": other})).await;
    assert_eq!(f.uow.fire_timer(f.tenant, id, 0).await.unwrap(), None);
    assert_eq!(f.head().await, 4, "no due event for a cancelled order");
}

#[tokio::test]
async fn a_stored_command_that_no_longer_parses_fails_with_a_reason() {
    let f = Fixture::new().await;
    let id = f
        .queue("createOrder", create(AggregateId::new_random()))
        .await;
    f.db.execute_as_worker(
        f.tenant,
        &format!("UPDATE commands SET payload = '{{\"orderId\": 1}}' WHERE id = '{id}'"),
    )
    .await;
    let outcome = f.uow.run(f.tenant, id).await.unwrap();
    assert!(
        matches!(&outcome, CommandOutcome::Failed { reason } if reason.contains("orderId")),
        "{outcome:?}"
    );
    assert_eq!(f.status(id).await, CommandStatus::Failed);
}

#[tokio::test]
async fn a_missing_command_is_not_found() {
    let f = Fixture::new().await;
    let err = f
        .uow
        .run(f.tenant, CommandId::new_random())
        .await
        .unwrap_err();
    assert!(matches!(err, UnitOfWorkError::NotFound(_)), "{err}");
}

#[tokio::test]
async fn raw_v1_rows_read_as_v2_on_every_path_and_the_snapshot_is_rebuilt() {
    let f = Fixture::new().await;
    let order = AggregateId::new_random();
    f.db.seed_v1_order(f.tenant, order).await;

    // The log (GET /v1/events and socket frames read through here).
    let events = f.store.read(f.tenant, Seq::ZERO, 10).await.unwrap();
    assert_eq!(events[0].schema_version, 2);
    assert_eq!(events[0].payload["customerId"], "legacy-user");
    assert_eq!(events[0].payload["items"][0]["notes"], json!(["no salt"]));
    assert!(events[0].payload.get("userId").is_none());

    // The aggregate load: the v1-shape snapshot is left out, events upcast.
    let loaded = f.store.load(f.tenant, &order_stream(order)).await.unwrap();
    assert!(
        loaded.snapshot.is_none(),
        "an older-shape snapshot is not used"
    );
    assert_eq!(loaded.events.len(), 1);
    assert_eq!(loaded.events[0].schema_version, 2);

    // GET /v1/snapshot (the gateway's role, which may not rewrite): rebuilt.
    let snapshot = tenant_snapshot(&f.db.pool(DbRole::Gateway), f.tenant)
        .await
        .unwrap();
    let state = &snapshot.aggregates[0];
    assert_eq!(state.schema_version, 2);
    assert_eq!(state.state["customerId"], "legacy-user");
    assert_eq!(state.version.get(), 1);

    // A rejected command still rewrites the stale snapshot at the new shape.
    let (_, outcome) = f
        .run(
            "updateOrderStatus",
            json!({"orderId": order, "status": "ready"}),
        )
        .await;
    assert!(
        matches!(outcome, CommandOutcome::Rejected { .. }),
        "{outcome:?}"
    );
    let loaded = f.store.load(f.tenant, &order_stream(order)).await.unwrap();
    let rewritten = loaded.snapshot.expect("rewritten at the current shape");
    assert_eq!((rewritten.schema_version, rewritten.version.get()), (2, 1));
    assert_eq!(rewritten.state["items"][0]["notes"], json!(["no salt"]));
    assert!(loaded.events.is_empty());

    // And a command decides on the upcast state and appends v-current events.
    let (_, outcome) = f
        .run(
            "updateOrderStatus",
            json!({"orderId": order, "status": "confirmed"}),
        )
        .await;
    assert_eq!(succeeded_seqs(&outcome), vec![2]);
    // The stored v1 row stays as written.
    let rows =
        f.db.execute_as_worker(
            f.tenant,
            "SELECT 1 FROM events WHERE schema_version = 1 AND jsonb_exists(payload, 'userId')",
        )
        .await;
    assert_eq!(rows, 1, "the v1 event is stored unchanged");
}

#[tokio::test]
async fn an_event_of_an_unknown_future_version_is_a_typed_error_and_nothing_is_written() {
    let f = Fixture::new().await;
    let order = AggregateId::new_random();
    let tenant = f.tenant;
    let event_id = uuid::Uuid::new_v4();
    f.db.execute_as_worker(
        tenant,
        &format!("INSERT INTO tenant_sequences (tenant_id, last_seq) VALUES ('{tenant}', 1)"),
    )
    .await;
    f.db.execute_as_worker(
        tenant,
        &format!(
            "INSERT INTO events (tenant_id, id, aggregate_type, aggregate_id, version, seq, type,
                                 schema_version, payload, causation_id, correlation_id, metadata)
             VALUES ('{tenant}', '{event_id}', 'order', '{order}', 1, 1, 'OrderCreated', 9,
                     '{{}}', '{event_id}', '{event_id}', '{{}}')"
        ),
    )
    .await;
    let err = f.store.read(tenant, Seq::ZERO, 10).await.unwrap_err();
    match &err {
        StoreError::UnreadableEvent { event_id: id, .. } => assert_eq!(id.as_uuid(), event_id),
        other => panic!("expected UnreadableEvent, got {other:?}"),
    }
    assert!(err.to_string().contains(&event_id.to_string()), "{err}");
    assert!(
        std::error::Error::source(&err)
            .map(|s| s.to_string().contains("OrderCreated"))
            .unwrap_or(false),
        "the cause names the event type: {err:?}"
    );

    // The worker fails the attempt (Temporal retries) and writes nothing.
    let id = f
        .queue(
            "updateOrderStatus",
            json!({"orderId": order, "status": "confirmed"}),
        )
        .await;
    let err = f.uow.run(tenant, id).await.unwrap_err();
    assert!(
        matches!(
            err,
            UnitOfWorkError::Store(StoreError::UnreadableEvent { .. })
        ),
        "{err}"
    );
    assert_eq!(f.status(id).await, CommandStatus::Pending);
    assert_eq!(f.head().await, 1, "the seq counter was not bumped");
}
