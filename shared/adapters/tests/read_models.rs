//! Read models on the real PostgreSQL: every append path (commands through the
//! unit of work, due timers, direct appends) maintains every view in the
//! append's transaction, so under 8 concurrent writers on one tenant each view
//! read is exactly the fold of the log up to the seq it claims, the active
//! views are always at the tenant's head, and another tenant sees nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use kitchen_adapters::config::DbRole;
use kitchen_adapters::postgres::unit_of_work::CommandUnitOfWork;
use kitchen_adapters::postgres::views::read_view;
use kitchen_adapters::postgres::{PgCommandQueue, PgEventStore, PgPool};
use kitchen_domain::ports::{CommandQueue, EventStore};
use kitchen_domain::projection::{projection, PROJECTIONS};
use kitchen_domain::queue::CommandOutcome;
use kitchen_domain::{AggregateId, CommandId, Seq, TenantId, Version};
use kitchen_test_support::fixtures::{
    append_created, order_stream, queued_command, status_updated,
};
use kitchen_test_support::views::{active_views_at_head, fold_at, whole_log};
use kitchen_test_support::TestDb;
use serde_json::{json, Value};

const WRITERS: usize = 8;
const STEPS: usize = 8;

struct Writers {
    tenant: TenantId,
    queue: PgCommandQueue,
    store: PgEventStore,
    uow: CommandUnitOfWork,
}

impl Writers {
    /// Queues a command as the gateway does and runs it as the worker does.
    async fn command(&self, command_type: &str, payload: Value) -> (CommandId, CommandOutcome) {
        let command = queued_command(self.tenant, command_type, &payload);
        let id = command.id;
        self.queue.enqueue(command).await.unwrap();
        (id, self.uow.run(self.tenant, id).await.unwrap())
    }

    /// One writer's step: each kind of writer uses its own append path.
    async fn step(&self, writer: usize, step: usize) {
        let order = AggregateId::new_random();
        let create = |scheduled: bool| {
            let mut payload = json!({"orderId": order, "userId": format!("w{writer}"),
                "items": [{"menuItemId": "soup", "quantity": 1 + step}]});
            if scheduled {
                payload["scheduledFor"] = json!(format!("2030-01-0{}T18:30:00Z", 1 + step % 9));
            }
            payload
        };
        match writer % 3 {
            // Commands: create, then move it along or cancel; the menu too.
            0 => {
                self.command("createOrder", create(false)).await;
                for status in ["confirmed", "preparing", "ready", "delivered"]
                    .iter()
                    .take(step % 5)
                {
                    self.command(
                        "updateOrderStatus",
                        json!({"orderId": order, "status": status}),
                    )
                    .await;
                }
                if step.is_multiple_of(5) {
                    self.command("cancelOrder", json!({"orderId": order})).await;
                }
                let dish = format!("dish-{writer}-{step}");
                self.command(
                    "addMenuItem",
                    json!({"menuItemId": dish, "name": "Soup", "priceCents": 450}),
                )
                .await;
                if step.is_multiple_of(2) {
                    self.command("removeMenuItem", json!({"menuItemId": dish}))
                        .await;
                }
            }
            // Due timers: a scheduled order whose timer fires.
            1 => {
                let (id, _) = self.command("createOrder", create(true)).await;
                let fired = self.uow.fire_timer(self.tenant, id, 0).await.unwrap();
                assert!(fired.is_some(), "the timer appended OrderDue");
            }
            // Direct appends to the event store.
            _ => {
                append_created(&self.store, self.tenant, order).await;
                self.store
                    .append(
                        self.tenant,
                        &order_stream(order),
                        Version::ZERO.advanced(1),
                        vec![status_updated(order)],
                        json!({"state": "placed"}),
                    )
                    .await
                    .unwrap();
            }
        }
    }
}

/// Reads every view and checks it against the fold of the log at its seq.
async fn check_views(pool: &PgPool, store: &PgEventStore, tenant: TenantId) -> Vec<Seq> {
    let mut seqs = Vec::new();
    let mut reads = Vec::new();
    for p in PROJECTIONS {
        reads.push(read_view(pool, tenant, p, None).await.unwrap());
    }
    let log = whole_log(store, tenant).await;
    for (p, read) in PROJECTIONS.iter().zip(reads) {
        assert_eq!(
            read.view,
            fold_at(p.name, &log, read.seq),
            "{} at seq {}",
            p.name,
            read.seq
        );
        seqs.push(read.seq);
    }
    seqs
}

#[tokio::test]
async fn under_eight_concurrent_writers_every_view_is_the_fold_of_the_log_at_the_head() {
    let db = TestDb::new().await.unwrap();
    let tenant = db.active_tenant().await;
    let writers = Arc::new(Writers {
        tenant,
        queue: PgCommandQueue::new(db.pool(DbRole::Gateway)),
        store: PgEventStore::new(db.pool(DbRole::Worker)),
        uow: CommandUnitOfWork::new(db.pool(DbRole::Worker)),
    });
    let gateway = db.pool(DbRole::Gateway);
    let reader_store = PgEventStore::new(db.pool(DbRole::Gateway));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (done, gateway, store) = (done.clone(), gateway.clone(), reader_store.clone());
        tokio::spawn(async move {
            let (mut reads, mut last) = (0, vec![Seq::ZERO; PROJECTIONS.len()]);
            while !done.load(Ordering::Relaxed) {
                let seqs = check_views(&gateway, &store, tenant).await;
                assert!(
                    seqs.iter().zip(&last).all(|(s, l)| s >= l),
                    "views never go back"
                );
                last = seqs;
                reads += 1;
            }
            reads
        })
    };
    let heads = {
        let done = done.clone();
        async move {
            let mut checks = 0;
            while !done.load(Ordering::Relaxed) {
                let (head, views) = active_views_at_head(&db, tenant).await;
                if head > 0 {
                    assert_eq!(
                        views,
                        vec![head; PROJECTIONS.len()],
                        "every view at the head"
                    );
                    checks += 1;
                }
            }
            (db, checks)
        }
    };
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let writers = writers.clone();
            tokio::spawn(async move {
                for step in 0..STEPS {
                    writers.step(w, step).await;
                }
            })
        })
        .collect();
    let all_written = async {
        for task in tasks {
            task.await.unwrap();
        }
        done.store(true, Ordering::Relaxed);
    };
    let ((db, head_checks), ()) = tokio::join!(heads, all_written);
    let reads = reader.await.unwrap();
    assert!(
        reads > 0 && head_checks > 0,
        "{reads} reads, {head_checks} head checks"
    );

    let head = writers.store.head(tenant).await.unwrap();
    let seqs = check_views(&gateway, &reader_store, tenant).await;
    assert_eq!(seqs, vec![head; PROJECTIONS.len()]);
    let board = read_view(&gateway, tenant, projection("orderBoard").unwrap(), None)
        .await
        .unwrap();
    assert!(
        !board.view["orders"].as_array().unwrap().is_empty(),
        "the board has open orders: {}",
        board.view
    );
    let (_, views) = active_views_at_head(&db, tenant).await;
    assert_eq!(views, vec![head.get(); PROJECTIONS.len()]);

    // Another tenant sees none of it.
    let other = db.active_tenant().await;
    for p in PROJECTIONS {
        let read = read_view(&gateway, other, p, None).await.unwrap();
        assert_eq!(read.seq, Seq::ZERO);
        assert_eq!(read.view, p.view(Vec::new()), "{}", p.name);
    }
    println!(
        "{} events, {reads} consistent view reads, {head_checks} head checks",
        head.get()
    );
}

#[tokio::test]
async fn a_view_read_by_key_holds_that_row_only() {
    let db = TestDb::new().await.unwrap();
    let tenant = db.active_tenant().await;
    let store = PgEventStore::new(db.pool(DbRole::Worker));
    let (a, b) = (AggregateId::new_random(), AggregateId::new_random());
    append_created(&store, tenant, a).await;
    append_created(&store, tenant, b).await;
    let gateway = db.pool(DbRole::Gateway);
    let board = projection("orderBoard").unwrap();
    let one = read_view(&gateway, tenant, board, Some(&a.to_string()))
        .await
        .unwrap();
    assert_eq!(one.seq.get(), 2);
    let orders = one.view["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["orderId"], json!(a));
    let none = read_view(&gateway, tenant, board, Some("nope"))
        .await
        .unwrap();
    assert!(none.view["orders"].as_array().unwrap().is_empty());
}
