//! Issue 14 on real PostgreSQL: command outcomes on the socket (after their
//! events, to the command's tenant only), the honest head (an `after` beyond
//! the head, or another epoch, gets a `reset` frame and close 4009; the epoch
//! changes when a tenant's log is recreated), and the `Origin` check at the
//! upgrade. Commands run through the worker's real unit of work, whose status
//! change fires the `command_outcomes` NOTIFY; no Temporal is needed for that.

use std::collections::HashSet;
use std::time::Duration;

use kitchen_adapters::config::{DbRole, Settings};
use kitchen_adapters::postgres::read_model::tenant_snapshot;
use kitchen_adapters::postgres::stream::log_head;
use kitchen_adapters::postgres::unit_of_work::CommandUnitOfWork;
use kitchen_adapters::postgres::{PgCommandQueue, PgEventStore};
use kitchen_domain::ports::CommandQueue;
use kitchen_domain::queue::NewCommand;
use kitchen_domain::{AggregateId, AnyCommand, CommandId, CorrelationId, TenantId};
use kitchen_test_support::fixtures::append_created;
use kitchen_test_support::socket::{self, next_frame, Ws};
use kitchen_test_support::{tokens, TestDb};
use serde_json::{json, Value};
use uuid::Uuid;

const ALLOWED_ORIGIN: &str = "http://127.0.0.1:5173";

struct Rt {
    db: TestDb,
    settings: Settings,
    realtime: String,
    /// `http://host:port`, for `/metrics`.
    http: String,
    store: PgEventStore,
    queue: PgCommandQueue,
    uow: CommandUnitOfWork,
}

impl Rt {
    async fn start() -> Rt {
        let db = TestDb::new().await.unwrap();
        let mut settings = db.platform_settings();
        settings.edge.allowed_origins = vec![ALLOWED_ORIGIN.into()];
        let address = realtime::build(&settings, &kitchen_adapters::shutdown::Shutdown::new())
            .unwrap()
            .spawn();
        Rt {
            store: PgEventStore::new(db.pool(DbRole::Worker)),
            queue: PgCommandQueue::new(db.pool(DbRole::Gateway)),
            uow: CommandUnitOfWork::new(db.pool(DbRole::Worker)),
            realtime: format!("ws://{address}"),
            http: format!("http://{address}"),
            settings,
            db,
        }
    }

    fn request(
        &self,
        tenant: TenantId,
        query: &str,
    ) -> tokio_tungstenite::tungstenite::handshake::client::Request {
        let token = tokens::valid(&self.settings.auth, tenant);
        socket::stream_request(&self.realtime, Some(&token), query)
    }

    /// Waits (10 s at most) until the unlabelled counter `series` reads `want`.
    async fn wait_metric(&self, series: &str, want: f64) {
        let url = format!("{}/metrics", self.http);
        kitchen_test_support::poll::until(Duration::from_secs(10), series, || async {
            let text = reqwest::get(&url).await.ok()?.text().await.ok()?;
            let value: f64 = text
                .lines()
                .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())?;
            (value == want).then_some(())
        })
        .await;
    }

    /// A socket of `tenant` past its `ready` frame (returned).
    async fn live(&self, tenant: TenantId, after: i64) -> (Ws, Value) {
        let mut ws = socket::connect_request(self.request(tenant, &format!("after={after}"))).await;
        loop {
            let frame = next_frame(&mut ws).await.expect("socket open");
            if frame["type"] == "ready" {
                return (ws, frame);
            }
        }
    }

    /// Queues a command as the gateway does, then runs it as the worker does.
    async fn run(&self, tenant: TenantId, command_type: &str, payload: Value) -> CommandId {
        let command = AnyCommand::parse(command_type, &payload).unwrap();
        let id = self
            .enqueue(
                tenant,
                command_type,
                command.to_payload(),
                command.stream(tenant).aggregate_id,
            )
            .await;
        self.uow.run(tenant, id).await.unwrap();
        id
    }

    async fn enqueue(
        &self,
        tenant: TenantId,
        command_type: &str,
        payload: Value,
        aggregate: AggregateId,
    ) -> CommandId {
        let id = CommandId::new_random();
        self.queue
            .enqueue(NewCommand {
                id,
                tenant_id: tenant,
                command_type: command_type.into(),
                payload,
                aggregate_id: aggregate,
                user_id: Some("test-user".into()),
                correlation_id: CorrelationId::new_random(),
                metadata: json!({}),
            })
            .await
            .unwrap();
        id
    }
}

fn create_order() -> Value {
    json!({"orderId": Uuid::new_v4(), "userId": "sam",
           "items": [{"menuItemId": "soup", "quantity": 1}]})
}

/// Reads frames until the outcome of every command in `ids` came; checks
/// that each outcome follows all of its events and that nothing of another
/// tenant arrives. Returns the outcome frames by command id.
async fn outcomes_in_order(
    ws: &mut Ws,
    tenant: TenantId,
    ids: &[CommandId],
) -> std::collections::HashMap<String, Value> {
    let want: HashSet<String> = ids.iter().map(|id| id.to_string()).collect();
    let mut seen_seqs = HashSet::new();
    let mut outcomes = std::collections::HashMap::new();
    while outcomes.len() < want.len() {
        let frame = next_frame(ws).await.expect("socket open");
        match frame["type"].as_str() {
            Some("event") => {
                assert_eq!(
                    frame["event"]["tenantId"],
                    tenant.to_string(),
                    "another tenant's event"
                );
                seen_seqs.insert(frame["event"]["seq"].as_i64().unwrap());
            }
            Some("command") => {
                let id = frame["commandId"].as_str().unwrap().to_owned();
                assert!(want.contains(&id), "an outcome of another command: {frame}");
                for seq in frame["eventSeqs"].as_array().into_iter().flatten() {
                    assert!(
                        seen_seqs.contains(&seq.as_i64().unwrap()),
                        "outcome before its event {seq}: {frame}"
                    );
                }
                assert!(outcomes.insert(id, frame).is_none(), "an outcome twice");
            }
            other => panic!("unexpected frame {other:?}"),
        }
    }
    outcomes
}

/// Nothing arrives on `ws` for a moment (a socket that must not hear of it).
async fn quiet(ws: &mut Ws) {
    use futures_util::StreamExt;
    let got = tokio::time::timeout(Duration::from_millis(700), ws.next()).await;
    if let Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text)))) = got {
        panic!("this socket should hear nothing, got {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outcomes_follow_their_events_on_every_socket_of_their_tenant_and_no_other() {
    let rt = Rt::start().await;
    let (a, b) = (rt.db.active_tenant().await, rt.db.active_tenant().await);
    let (mut a1, ready) = rt.live(a, 0).await;
    let (mut a2, _) = rt.live(a, 0).await;
    let (mut b1, _) = rt.live(b, 0).await;
    assert_eq!(ready["seq"], 0);

    // Twenty commands of A at once: outcomes race their events through the hub.
    let ids: Vec<CommandId> =
        futures_util::future::join_all((0..20).map(|_| rt.run(a, "createOrder", create_order())))
            .await;
    for ws in [&mut a1, &mut a2] {
        let outcomes = outcomes_in_order(ws, a, &ids).await;
        let mut all_seqs: Vec<i64> = outcomes
            .values()
            .map(|o| {
                assert_eq!(o["status"], "succeeded", "{o}");
                assert!(o.get("rejection").is_none(), "{o}");
                assert_eq!(
                    o.as_object().unwrap().len(),
                    4,
                    "type, commandId, status, eventSeqs: {o}"
                );
                o["eventSeqs"][0].as_i64().unwrap()
            })
            .collect();
        all_seqs.sort();
        assert_eq!(all_seqs, (1..=20).collect::<Vec<_>>());
    }
    quiet(&mut b1).await;

    // B's own command reaches B's socket, and only B's.
    let id = rt.run(b, "createOrder", create_order()).await;
    let outcomes = outcomes_in_order(&mut b1, b, &[id]).await;
    assert_eq!(outcomes[&id.to_string()]["eventSeqs"], json!([1]));
    quiet(&mut a1).await;
    rt.wait_metric("kitchen_realtime_outcome_frames_sent_total", 41.0)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rejection_and_a_failure_come_with_their_code_and_platform_commands_stay_silent() {
    let rt = Rt::start().await;
    let tenant = rt.db.active_tenant().await;
    let (mut ws, _) = rt.live(tenant, 0).await;

    // Advancing an order that does not exist: rejected, no event.
    let rejected = rt
        .run(
            tenant,
            "updateOrderStatus",
            json!({"orderId": Uuid::new_v4(), "status": "confirmed"}),
        )
        .await;
    let frame = next_frame(&mut ws).await.unwrap();
    assert_eq!(frame["type"], "command", "{frame}");
    assert_eq!(frame["commandId"], rejected.to_string());
    assert_eq!(frame["status"], "rejected");
    assert_eq!(frame["rejection"]["code"], "order_not_found", "{frame}");
    assert!(frame["rejection"]["reason"].as_str().unwrap().len() > 3);
    assert!(frame.get("eventSeqs").is_none(), "{frame}");

    // A stored command the worker cannot parse: failed, with its code.
    let broken = rt
        .enqueue(
            tenant,
            "createOrder",
            json!({"orderId": "not-a-uuid"}),
            AggregateId::new_random(),
        )
        .await;
    rt.uow.run(tenant, broken).await.unwrap();
    let frame = next_frame(&mut ws).await.unwrap();
    assert_eq!(
        (frame["commandId"].as_str(), frame["status"].as_str()),
        (Some(broken.to_string().as_str()), Some("failed")),
        "{frame}"
    );
    assert_eq!(frame["rejection"]["code"], "unparseable_command", "{frame}");

    // A platform command of this tenant finishing is not the household's news.
    let platform = Uuid::new_v4();
    rt.db
        .execute_as(
            DbRole::Owner,
            tenant,
            &format!(
                "INSERT INTO commands (tenant_id, id, type, payload, aggregate_id, correlation_id)
                 VALUES ('{tenant}', '{platform}', 'tenant.provision', '{{}}', '{tenant}', '{platform}')"
            ),
        )
        .await;
    rt.db
        .execute_as(
            DbRole::Owner,
            tenant,
            &format!("UPDATE commands SET status = 'succeeded' WHERE id = '{platform}'"),
        )
        .await;
    let next = rt.run(tenant, "createOrder", create_order()).await;
    let outcomes = outcomes_in_order(&mut ws, tenant, &[next]).await;
    assert_eq!(outcomes.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_after_beyond_the_head_or_another_epoch_is_reset_with_the_real_head_and_4009() {
    let rt = Rt::start().await;
    let tenant = rt.db.active_tenant().await;
    for _ in 0..3 {
        append_created(&rt.store, tenant, AggregateId::new_random()).await;
    }
    let head = log_head(&rt.db.pool(DbRole::Realtime), tenant)
        .await
        .unwrap();
    assert_eq!(head.seq.get(), 3);
    assert!(!head.epoch.is_nil(), "a written log has an epoch");
    let epoch = head.epoch.to_string();

    // In step: catch-up, then `ready` with the epoch.
    let (_ws, ready) = rt.live(tenant, 1).await;
    assert_eq!(ready, json!({"type": "ready", "seq": 3, "epoch": epoch}));
    let (_ws, ready) = rt.live(tenant, 3).await;
    assert_eq!(ready["seq"], 3);
    let mut in_step =
        socket::connect_request(rt.request(tenant, &format!("after=2&epoch={epoch}"))).await;
    assert_eq!(next_frame(&mut in_step).await.unwrap()["event"]["seq"], 3);

    let reset = json!({"type": "reset", "head": 3, "epoch": epoch});
    for query in [
        "after=4".to_owned(),
        format!("after=1000&epoch={epoch}"),
        format!("after=2&epoch={}", Uuid::new_v4()),
        format!("after=0&epoch={}", Uuid::nil()),
    ] {
        let mut ws = socket::connect_request(rt.request(tenant, &query)).await;
        let (frames, close) = socket::until_closed(&mut ws).await;
        assert_eq!(frames, vec![reset.clone()], "{query}");
        assert_eq!(
            close,
            Some((4009, "hydrate again from /v1/snapshot".into())),
            "{query}"
        );
    }
    rt.wait_metric("kitchen_realtime_resets_total", 4.0).await;
    // A malformed epoch is refused before any socket exists.
    assert_eq!(
        socket::refused(rt.request(tenant, "after=1&epoch=yesterday")).await,
        (400, "invalid_query".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_recreated_log_has_a_new_epoch_and_old_clients_are_told_to_hydrate_again() {
    let rt = Rt::start().await;
    let tenant = rt.db.active_tenant().await;
    // A log that was never written: seq 0, nil epoch, in the snapshot too.
    let gateway = rt.db.pool(DbRole::Gateway);
    let empty = tenant_snapshot(&gateway, tenant).await.unwrap();
    assert_eq!((empty.seq.get(), empty.epoch), (0, Uuid::nil()));
    for _ in 0..2 {
        append_created(&rt.store, tenant, AggregateId::new_random()).await;
    }
    let first = tenant_snapshot(&gateway, tenant).await.unwrap();
    assert_eq!(first.seq.get(), 2);
    assert!(!first.epoch.is_nil());

    // Erased (the worker's one way to remove a tenant's rows), provisioned
    // again (active, a new log that grows past the old head).
    rt.db
        .execute_as(
            DbRole::Worker,
            tenant,
            &format!("SELECT erase_tenant('{tenant}', 'erased', 'test', 'recreated by a test')"),
        )
        .await;
    rt.db.set_tenant_status(tenant, "active").await;
    for _ in 0..3 {
        append_created(&rt.store, tenant, AggregateId::new_random()).await;
    }
    let second = tenant_snapshot(&gateway, tenant).await.unwrap();
    assert_eq!(second.seq.get(), 3);
    assert_ne!(second.epoch, first.epoch, "a recreated log has a new epoch");

    // A client of the old log: its `after` (2) exists in the new one, but its
    // epoch tells it apart.
    let mut old =
        socket::connect_request(rt.request(tenant, &format!("after=2&epoch={}", first.epoch)))
            .await;
    let (frames, close) = socket::until_closed(&mut old).await;
    assert_eq!(
        frames,
        vec![json!({"type": "reset", "head": 3, "epoch": second.epoch})]
    );
    assert_eq!(close.map(|c| c.0), Some(4009));
    // Hydrated again, it streams.
    let (_ws, ready) = rt.live(tenant, 3).await;
    assert_eq!(ready["epoch"], second.epoch.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_allowed_browser_origins_may_open_the_stream() {
    let rt = Rt::start().await;
    let tenant = rt.db.active_tenant().await;
    let with_origin = |origin: &str| {
        let mut request = rt.request(tenant, "after=0");
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
        request
    };
    for origin in ["http://evil.example", "http://127.0.0.1:5174", "null"] {
        assert_eq!(
            socket::refused(with_origin(origin)).await,
            (403, "origin_not_allowed".into()),
            "{origin}"
        );
    }
    for request in [with_origin(ALLOWED_ORIGIN), rt.request(tenant, "after=0")] {
        let mut ws = socket::connect_request(request).await;
        assert_eq!(next_frame(&mut ws).await.unwrap()["type"], "ready");
    }
}
