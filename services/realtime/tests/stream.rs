//! The realtime contract on real PostgreSQL: catch-up, `ready`, live, in seq
//! order, exactly once, never another tenant's; resume; slow consumers; LISTEN
//! loss; authentication at the upgrade and at token expiry.

use std::time::Duration;

use futures_util::SinkExt;
use kitchen_adapters::config::{DbRole, Settings};
use kitchen_adapters::postgres::PgEventStore;
use kitchen_domain::ports::EventStore;
use kitchen_domain::{AggregateId, TenantId, Version};
use kitchen_test_support::fixtures::{
    big_order_created, created_snapshot, order_created, order_stream,
};
use kitchen_test_support::socket::{self, next_frame, Ws};
use kitchen_test_support::{tokens, TestDb};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

struct Rt {
    db: TestDb,
    settings: Settings,
    address: String,
    store: PgEventStore,
}

impl Rt {
    async fn start(adjust: impl FnOnce(&mut Settings)) -> Rt {
        let db = TestDb::new().await.unwrap();
        let mut settings = db.platform_settings();
        adjust(&mut settings);
        let address = realtime::build(&settings, &kitchen_adapters::shutdown::Shutdown::new())
            .unwrap()
            .spawn()
            .to_string();
        let store = PgEventStore::new(db.pool(DbRole::Worker));
        Rt {
            db,
            settings,
            address,
            store,
        }
    }

    fn token(&self, tenant: TenantId) -> String {
        tokens::valid(&self.settings.auth, tenant)
    }

    /// A handshake request for `tenant` (token in the header) with `query`.
    fn request(
        &self,
        tenant: TenantId,
        query: &str,
    ) -> tokio_tungstenite::tungstenite::handshake::client::Request {
        let realtime = format!("ws://{}", self.address);
        socket::stream_request(&realtime, Some(&self.token(tenant)), query)
    }

    async fn connect(&self, tenant: TenantId, after: i64) -> Ws {
        let realtime = format!("ws://{}", self.address);
        socket::connect(&realtime, &self.token(tenant), after).await
    }

    /// Appends one OrderCreated for a new order; returns its seq.
    async fn append(&self, tenant: TenantId) -> i64 {
        self.append_event(tenant, order_created).await
    }

    async fn scrape(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.address))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Polls `/metrics` until `series` reads `want` (within 10 s); returns the text.
    async fn wait_metric(&self, series: &str, want: f64) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.scrape().await;
            if metric(&text, series) == Some(want) {
                return text;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{series} never read {want}:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn append_event(
        &self,
        tenant: TenantId,
        make: fn(AggregateId) -> kitchen_domain::NewEvent,
    ) -> i64 {
        let order = AggregateId::new_random();
        let recorded = self
            .store
            .append(
                tenant,
                &order_stream(order),
                Version::ZERO,
                vec![make(order)],
                created_snapshot(order),
            )
            .await
            .unwrap();
        recorded[0].seq.get()
    }
}

/// The value of one series (name and labels exactly as rendered) in `/metrics` text.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Reads event frames until `count` events; returns their seqs (and checks tenant).
async fn read_events(
    ws: &mut Ws,
    tenant: TenantId,
    count: usize,
    ready: &mut Option<i64>,
) -> Vec<i64> {
    let mut seqs = Vec::new();
    while seqs.len() < count {
        let frame = next_frame(ws).await.expect("socket open");
        match frame["type"].as_str() {
            Some("event") => {
                assert_eq!(
                    frame["event"]["tenantId"],
                    tenant.to_string(),
                    "another tenant's event!"
                );
                seqs.push(frame["event"]["seq"].as_i64().unwrap());
            }
            Some("ready") => *ready = frame["seq"].as_i64(),
            other => panic!("unexpected frame {other:?}"),
        }
    }
    seqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_tenants_two_sockets_each_get_exactly_their_events_in_order() {
    let rt = Rt::start(|_| {}).await;
    let (a, b) = (rt.db.active_tenant().await, rt.db.active_tenant().await);
    // Some history before anyone connects (catch-up), the rest live.
    for i in 0..40 {
        rt.append(if i % 2 == 0 { a } else { b }).await;
    }
    let mut sockets = [
        (a, rt.connect(a, 0).await),
        (a, rt.connect(a, 0).await),
        (b, rt.connect(b, 0).await),
        (b, rt.connect(b, 0).await),
    ];
    for i in 40..200 {
        rt.append(if i % 3 == 0 { b } else { a }).await;
    }
    let count_a = (0..200)
        .filter(|i| if *i < 40 { i % 2 == 0 } else { i % 3 != 0 })
        .count();
    let count_b = 200 - count_a;
    for (tenant, ws) in sockets.iter_mut() {
        let want = if *tenant == a { count_a } else { count_b };
        let mut ready = None;
        let seqs = read_events(ws, *tenant, want, &mut ready).await;
        assert_eq!(
            seqs,
            (1..=want as i64).collect::<Vec<_>>(),
            "every seq once, in order"
        );
        let ready = ready.expect("a ready frame came");
        assert!(
            ready >= 20,
            "catch-up covered the history (ready at {ready})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_socket_resumes_after_a_drop_with_every_missed_event_once_then_live() {
    let rt = Rt::start(|_| {}).await;
    let tenant = rt.db.active_tenant().await;
    for _ in 0..10 {
        rt.append(tenant).await;
    }
    let mut ws = rt.connect(tenant, 0).await;
    let mut ready = None;
    let first = read_events(&mut ws, tenant, 10, &mut ready).await;
    assert_eq!(first.last(), Some(&10));
    drop(ws);
    // Events keep flowing while it is away.
    for _ in 0..15 {
        rt.append(tenant).await;
    }
    let mut ws = rt.connect(tenant, 10).await;
    let mut ready = None;
    let missed = read_events(&mut ws, tenant, 15, &mut ready).await;
    assert_eq!(missed, (11..=25).collect::<Vec<_>>());
    // Then live ones, after `ready`.
    let live_seq = rt.append(tenant).await;
    let live = read_events(&mut ws, tenant, 1, &mut ready).await;
    assert_eq!(live, vec![live_seq]);
    assert_eq!(ready, Some(25), "ready names the seq caught up to");
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_never_reads_is_closed_as_too_slow_while_others_keep_receiving() {
    let rt = Rt::start(|s| {
        s.realtime.queue_capacity = 8;
        s.realtime.write_timeout_secs = 1;
    })
    .await;
    let tenant = rt.db.active_tenant().await;
    let mut stuck = rt.connect(tenant, 0).await;
    let mut reader = rt.connect(tenant, 0).await;
    let mut ready = None;
    // Both sockets are past catch-up before the burst.
    assert!(read_events(&mut reader, tenant, 0, &mut ready)
        .await
        .is_empty());
    let before = rss_kib();
    let reading = tokio::spawn(async move {
        let mut ready = None;
        let seqs = read_events(&mut reader, tenant, 1000, &mut ready).await;
        (seqs, reader)
    });
    // ~20 MB of events: far more than the socket buffers between us hold.
    for _ in 0..1000 {
        rt.append_event(tenant, big_order_created).await;
    }
    let (seqs, _reader) = reading.await.unwrap();
    assert_eq!(
        seqs,
        (1..=1000).collect::<Vec<_>>(),
        "the reading socket got everything"
    );
    let after = rss_kib();
    // Now the stuck client reads: what was buffered, then the close frame.
    let mut last_seen = 0;
    let close = loop {
        match next_frame(&mut stuck).await {
            Ok(frame) if frame["type"] == "event" => {
                last_seen = frame["event"]["seq"].as_i64().unwrap()
            }
            Ok(_) => {}
            Err(close) => break close,
        }
    };
    let (code, reason) = close.expect("a close frame with a code");
    assert_eq!(code, 4008, "{reason}");
    assert!(
        reason.contains(&format!("after={last_seen}")),
        "the reason says where to resume: {reason}"
    );
    assert!(last_seen < 1000, "it was closed before it got everything");
    rt.wait_metric("kitchen_realtime_slow_consumer_closes_total", 1.0)
        .await;
    println!(
        "slow consumer: closed with 4008 after {last_seen} events; RSS {before} KiB -> {after} KiB"
    );
    assert!(after < before + 200 * 1024, "memory stayed bounded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn losing_the_listen_connection_mid_stream_loses_no_event() {
    let rt = Rt::start(|_| {}).await;
    let tenant = rt.db.active_tenant().await;
    let mut ws = rt.connect(tenant, 0).await;
    for _ in 0..20 {
        rt.append(tenant).await;
    }
    let killed = rt.db.terminate_backends("kitchen_realtime").await;
    assert!(killed >= 1);
    for _ in 0..20 {
        rt.append(tenant).await;
    }
    let mut ready = None;
    let seqs = read_events(&mut ws, tenant, 40, &mut ready).await;
    assert_eq!(seqs, (1..=40).collect::<Vec<_>>());
    rt.wait_metric("kitchen_realtime_listen_reconnects_total", 1.0)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_count_sockets_rooms_frames_and_the_lag_of_live_frames() {
    let rt = Rt::start(|_| {}).await;
    let text = rt.scrape().await;
    assert_eq!(
        metric(&text, "kitchen_realtime_sockets"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "kitchen_realtime_frames_sent_total"),
        Some(0.0)
    );
    let tenant = rt.db.active_tenant().await;
    for _ in 0..3 {
        rt.append(tenant).await;
    }
    let mut sockets = vec![rt.connect(tenant, 0).await, rt.connect(tenant, 0).await];
    for ws in sockets.iter_mut() {
        let mut ready = None;
        assert_eq!(read_events(ws, tenant, 3, &mut ready).await, vec![1, 2, 3]);
        assert_eq!(next_frame(ws).await.unwrap()["type"], "ready");
    }
    // Both sockets are live: the next two events come through the hub.
    for _ in 0..2 {
        rt.append(tenant).await;
    }
    for ws in sockets.iter_mut() {
        let mut ready = Some(3);
        assert_eq!(read_events(ws, tenant, 2, &mut ready).await, vec![4, 5]);
    }
    let text = rt.scrape().await;
    assert_eq!(
        metric(&text, "kitchen_realtime_sockets"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(metric(&text, "kitchen_realtime_rooms"), Some(1.0), "{text}");
    assert_eq!(
        metric(&text, "kitchen_realtime_frames_sent_total"),
        Some(10.0),
        "3 catch-up and 2 live frames on each socket: {text}"
    );
    assert_eq!(
        metric(&text, "kitchen_realtime_commit_to_send_seconds_count"),
        Some(4.0),
        "only live frames have a lag: {text}"
    );
    assert_eq!(
        metric(
            &text,
            "kitchen_realtime_commit_to_send_seconds_bucket{le=\"5\"}"
        ),
        Some(4.0),
        "on loopback every live frame is sent within 5 s: {text}"
    );
    assert_eq!(
        metric(&text, "kitchen_realtime_slow_consumer_closes_total"),
        Some(0.0)
    );
    assert_eq!(
        metric(&text, "kitchen_realtime_listen_reconnects_total"),
        Some(0.0)
    );

    drop(sockets.pop());
    rt.wait_metric("kitchen_realtime_sockets", 1.0).await;
    drop(sockets.pop());
    rt.wait_metric("kitchen_realtime_sockets", 0.0).await;
    rt.wait_metric("kitchen_realtime_rooms", 0.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_tokens_are_refused_at_the_upgrade() {
    let rt = Rt::start(|_| {}).await;
    let tenant = rt.db.active_tenant().await;
    let auth = rt.settings.auth.clone();
    let secret = secrecy::ExposeSecret::expose_secret(&auth.hs256_secret).to_owned();
    let mut expired = tokens::claims(&auth, tenant, 3600);
    expired["exp"] = serde_json::json!(chrono::Utc::now().timestamp() - 600);
    let realtime = format!("ws://{}", rt.address);
    let expired = tokens::hs256(&secret, &expired);
    for (label, token) in [
        ("missing", None),
        ("malformed", Some("not-a-jwt")),
        ("expired", Some(expired.as_str())),
    ] {
        let request = socket::stream_request(&realtime, token, "");
        assert_eq!(socket::refused(request).await.0, 401, "{label}");
    }
    // A bad `after` is a 400.
    let request = socket::stream_request(&realtime, Some(&rt.token(tenant)), "after=-3");
    assert_eq!(
        socket::refused(request).await,
        (400, "invalid_query".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn browsers_can_authenticate_with_a_query_parameter_or_the_subprotocol() {
    let rt = Rt::start(|_| {}).await;
    let tenant = rt.db.active_tenant().await;
    rt.append(tenant).await;
    let token = rt.token(tenant);
    let (mut by_query, _) = tokio_tungstenite::connect_async(format!(
        "ws://{}/v1/stream?after=0&access_token={token}",
        rt.address
    ))
    .await
    .unwrap();
    let mut request = format!("ws://{}/v1/stream", rt.address)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        format!("kitchen.v1, {token}").parse().unwrap(),
    );
    let (mut by_protocol, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "kitchen.v1");
    for ws in [&mut by_query, &mut by_protocol] {
        let mut ready = None;
        assert_eq!(read_events(ws, tenant, 1, &mut ready).await, vec![1]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_different_tokens_are_refused_and_query_tokens_are_percent_decoded() {
    let rt = Rt::start(|_| {}).await;
    let (a, b) = (rt.db.active_tenant().await, rt.db.active_tenant().await);
    let mut request = format!("ws://{}/v1/stream?access_token={}", rt.address, rt.token(b))
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", rt.token(a)).parse().unwrap(),
    );
    assert_eq!(
        socket::refused(request).await,
        (400, "ambiguous_token".into())
    );

    // A token with its dots percent-encoded is the same token.
    rt.append(a).await;
    let encoded = rt.token(a).replace('.', "%2E");
    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "ws://{}/v1/stream?after=0&access_token={encoded}",
        rt.address
    ))
    .await
    .unwrap();
    let mut ready = None;
    assert_eq!(read_events(&mut ws, a, 1, &mut ready).await, vec![1]);

    // A bad `after` names the parameter.
    let request = format!(
        "ws://{}/v1/stream?after=x&access_token={encoded}",
        rt.address
    )
    .into_client_request()
    .unwrap();
    assert_eq!(
        socket::refused(request).await,
        (400, "invalid_query".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_live_socket_is_closed_when_its_token_expires() {
    let rt = Rt::start(|_| {}).await;
    let tenant = rt.db.active_tenant().await;
    let secret = secrecy::ExposeSecret::expose_secret(&rt.settings.auth.hs256_secret).to_owned();
    let short = tokens::hs256(&secret, &tokens::claims(&rt.settings.auth, tenant, 2));
    let mut request = format!("ws://{}/v1/stream", rt.address)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {short}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let started = std::time::Instant::now();
    let close = loop {
        match next_frame(&mut ws).await {
            Ok(_) => continue,
            Err(close) => break close,
        }
    };
    let (code, _) = close.expect("a close frame");
    assert_eq!(code, 4001);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "not before expiry"
    );
    let _ = ws.send(Message::Close(None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_stored_at_v1_is_framed_at_the_current_version() {
    let rt = Rt::start(|_| {}).await;
    let tenant = rt.db.active_tenant().await;
    let order = AggregateId::new_random();
    rt.db.seed_v1_order(tenant, order).await;
    let mut ws = rt.connect(tenant, 0).await;
    let frame = next_frame(&mut ws).await.expect("socket open");
    assert_eq!(frame["type"], "event", "{frame}");
    let event = &frame["event"];
    assert_eq!(event["seq"], 1);
    assert_eq!(event["schemaVersion"], 2, "{frame}");
    assert_eq!(event["payload"]["customerId"], "legacy-user");
    assert_eq!(event["payload"]["items"][0]["notes"][0], "no salt");
    assert!(event["payload"].get("userId").is_none(), "{frame}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_active_tenants_get_a_socket_and_an_open_one_is_closed_when_its_tenant_is_disabled() {
    let rt = Rt::start(|_| {}).await;
    let unknown = TenantId::new_random();
    let provisioning = rt.db.tenant_with_status("provisioning").await;
    let disabled = rt.db.tenant_with_status("disabled").await;
    for (label, tenant) in [
        ("unknown", unknown),
        ("provisioning", provisioning),
        ("disabled", disabled),
    ] {
        let request = rt.request(tenant, "");
        assert_eq!(
            socket::refused(request).await,
            (403, "tenant_not_active".into()),
            "{label}"
        );
    }

    // An open socket of an active tenant, another tenant's beside it.
    let (tenant, other) = (rt.db.active_tenant().await, rt.db.active_tenant().await);
    rt.append(tenant).await;
    let mut ws = rt.connect(tenant, 0).await;
    let mut bystander = rt.connect(other, 0).await;
    let mut ready = None;
    assert_eq!(read_events(&mut ws, tenant, 1, &mut ready).await, vec![1]);
    rt.db.set_tenant_status(tenant, "disabled").await;
    let close = loop {
        match next_frame(&mut ws).await {
            Ok(_) => continue,
            Err(close) => break close,
        }
    };
    let (code, reason) = close.expect("a close frame");
    assert_eq!(code, 4003, "{reason}");
    assert_eq!(reason, "tenant not active; reconnect with after=1");
    // Reconnecting is refused; the other tenant's socket still streams.
    assert_eq!(
        socket::refused(rt.request(tenant, "")).await,
        (403, "tenant_not_active".into())
    );
    rt.append(other).await;
    let mut ready = None;
    assert_eq!(
        read_events(&mut bystander, other, 1, &mut ready).await,
        vec![1]
    );
    // Active again: served again.
    rt.db.set_tenant_status(tenant, "active").await;
    kitchen_test_support::poll::until(Duration::from_secs(10), "socket accepted again", || async {
        let mut request = format!("ws://{}/v1/stream?after=0", rt.address)
            .into_client_request()
            .unwrap();
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", rt.token(tenant)).parse().unwrap(),
        );
        tokio_tungstenite::connect_async(request).await.ok()
    })
    .await;
}
