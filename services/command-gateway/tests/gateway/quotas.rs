//! Per-tenant quotas and overload shedding at the gateway (issue 15), on the
//! real PostgreSQL: each refusal is problem+json with `Retry-After`, writes
//! nothing, and is counted in the metrics by its code.

use std::time::Duration;

use kitchen_adapters::config::{DbRole, Settings};
use kitchen_domain::TenantId;
use kitchen_test_support::{poll, tokens, TestDb};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

struct Gateway {
    db: TestDb,
    settings: Settings,
    base: String,
    http: reqwest::Client,
}

/// What one POST answered.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    code: Option<String>,
    retry_after: Option<u64>,
    content_type: Option<String>,
}

impl Gateway {
    async fn start(adjust: impl FnOnce(&mut Settings)) -> Gateway {
        let db = TestDb::new().await.unwrap();
        let mut settings = db.platform_settings();
        adjust(&mut settings);
        let base = crate::start_gateway(&settings);
        Gateway {
            db,
            settings,
            base,
            http: reqwest::Client::new(),
        }
    }

    async fn post_with_id(&self, tenant: TenantId, id: Uuid) -> Answer {
        let body = json!({
            "id": id,
            "type": "createOrder",
            "payload": {
                "orderId": Uuid::from_u128(id.as_u128() ^ 1),
                "userId": "user-1",
                "items": [{"menuItemId": "menu-item-1", "quantity": 1}]
            }
        });
        let response = self
            .http
            .post(format!("{}/v1/commands", self.base))
            .bearer_auth(tokens::valid(&self.settings.auth, tenant))
            .json(&body)
            .send()
            .await
            .unwrap();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let retry_after = header("retry-after").and_then(|v| v.parse().ok());
        let content_type = header("content-type");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        Answer {
            status,
            code: body["code"].as_str().map(str::to_owned),
            retry_after,
            content_type,
        }
    }

    async fn post(&self, tenant: TenantId) -> Answer {
        self.post_with_id(tenant, Uuid::new_v4()).await
    }

    /// Posts until the gateway refuses (within 5 s: its load reading is
    /// cached); the refusal.
    async fn until_refused(&self, tenant: TenantId, what: &str) -> Answer {
        poll::until(Duration::from_secs(5), what, || async {
            let answer = self.post(tenant).await;
            (answer.status != StatusCode::ACCEPTED).then_some(answer)
        })
        .await
    }

    /// Posts until the gateway accepts again (within 5 s).
    async fn until_accepted(&self, tenant: TenantId, what: &str) {
        poll::until(Duration::from_secs(5), what, || async {
            (self.post(tenant).await.status == StatusCode::ACCEPTED).then_some(())
        })
        .await;
    }

    /// Every post is accepted for `window`.
    async fn keeps_accepting(&self, tenant: TenantId, window: Duration, what: &str) {
        poll::holds(window, what, || async {
            self.post(tenant).await.status == StatusCode::ACCEPTED
        })
        .await;
    }

    async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn commands_of(&self, tenant: TenantId) -> i64 {
        self.db.count_rows("commands", tenant).await
    }
}

fn assert_refused(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status.as_u16(), status, "{answer:?}");
    assert_eq!(answer.code.as_deref(), Some(code), "{answer:?}");
    assert!(
        answer.retry_after.is_some_and(|s| s >= 1),
        "Retry-After of at least 1 s: {answer:?}"
    );
    assert_eq!(
        answer.content_type.as_deref(),
        Some("application/problem+json"),
        "{answer:?}"
    );
}

#[tokio::test]
async fn a_tenant_past_its_rate_gets_429_with_retry_after_and_another_tenant_is_untouched() {
    let gateway = Gateway::start(|s| {
        s.quotas.commands_per_sec = 1;
        s.quotas.command_burst = 3;
        s.quotas.refusal_hold_ms = 300;
    })
    .await;
    let (noisy, quiet) = (
        gateway.db.active_tenant().await,
        gateway.db.active_tenant().await,
    );
    for _ in 0..3 {
        assert_eq!(gateway.post(noisy).await.status, StatusCode::ACCEPTED);
    }
    let asked = std::time::Instant::now();
    let refused = gateway.post(noisy).await;
    assert_refused(&refused, 429, "tenant_rate_limited");
    // The refusal was held before it was answered (a client posting again at
    // once gets one attempt per hold).
    assert!(
        asked.elapsed() >= std::time::Duration::from_millis(300),
        "answered after {:?}",
        asked.elapsed()
    );
    assert_eq!(gateway.commands_of(noisy).await, 3, "nothing written");
    assert_eq!(gateway.post(quiet).await.status, StatusCode::ACCEPTED);
    let metrics = gateway.metrics().await;
    assert!(
        metrics.contains("kitchen_commands_refused_total{reason=\"tenant_rate_limited\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("kitchen_commands_refusals_held_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_tenant_at_its_open_bound_gets_429_with_nothing_written_while_a_retry_still_answers() {
    let gateway = Gateway::start(|s| {
        s.quotas.commands_per_sec = 0;
        s.quotas.max_open_commands = 3;
    })
    .await;
    let (busy, other) = (
        gateway.db.active_tenant().await,
        gateway.db.active_tenant().await,
    );
    let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    for id in &ids {
        assert_eq!(
            gateway.post_with_id(busy, *id).await.status,
            StatusCode::ACCEPTED
        );
    }
    let refused = gateway.post(busy).await;
    assert_refused(&refused, 429, "tenant_backlog_full");
    assert_eq!(gateway.commands_of(busy).await, 3, "nothing written");
    // The same request again adds nothing: it answers as before, not 429.
    let retry = gateway.post_with_id(busy, ids[0]).await;
    assert_eq!(retry.status, StatusCode::OK, "{retry:?}");
    // The bound is the tenant's own.
    assert_eq!(gateway.post(other).await.status, StatusCode::ACCEPTED);
    // Once one of its commands is final, the tenant may send again.
    let finished = gateway
        .db
        .execute_as_worker(
            busy,
            &format!(
                "UPDATE commands SET status = 'succeeded' WHERE id = '{}'",
                ids[1]
            ),
        )
        .await;
    assert_eq!(finished, 1);
    assert_eq!(gateway.post(busy).await.status, StatusCode::ACCEPTED);
    assert_eq!(gateway.commands_of(busy).await, 4);
    let metrics = gateway.metrics().await;
    assert!(
        metrics.contains("kitchen_commands_refused_total{reason=\"tenant_backlog_full\"} 1"),
        "{metrics}"
    );
}

/// Overload settings for the tests: read every 50 ms.
fn overload(s: &mut Settings, max_open: u32, max_head_wait_ms: u64, max_due_ms: u64) {
    s.quotas.commands_per_sec = 0;
    s.overload.refresh_ms = 50;
    s.overload.max_open_commands = max_open;
    s.overload.max_head_wait_ms = max_head_wait_ms;
    s.overload.max_oldest_due_ms = max_due_ms;
    s.overload.heartbeat_fresh_ms = 2000;
}

#[tokio::test]
async fn past_the_global_open_bound_posts_get_503_and_write_nothing_until_work_finishes() {
    let gateway = Gateway::start(|s| overload(s, 4, 0, 0)).await;
    let (a, b) = (
        gateway.db.active_tenant().await,
        gateway.db.active_tenant().await,
    );
    for tenant in [a, a, b, b] {
        assert_eq!(gateway.post(tenant).await.status, StatusCode::ACCEPTED);
    }
    // The next reading sees 4 open commands of all tenants: every tenant is shed.
    let shed = gateway.until_refused(b, "the gateway sheds").await;
    assert_refused(&shed, 503, "overloaded");
    // Before the reading caught up, at most a few more were accepted; once
    // shedding, nothing more is written.
    let written = gateway.commands_of(a).await + gateway.commands_of(b).await;
    for tenant in [a, b] {
        assert_refused(&gateway.post(tenant).await, 503, "overloaded");
    }
    assert_eq!(
        gateway.commands_of(a).await + gateway.commands_of(b).await,
        written
    );
    let metrics = gateway.metrics().await;
    assert!(
        metrics.contains("kitchen_commands_shed_total{rule=\"open_commands\"}"),
        "{metrics}"
    );
    // The accepted work finishes: the gateway accepts again.
    for tenant in [a, b] {
        gateway
            .db
            .execute_as_worker(tenant, "UPDATE commands SET status = 'succeeded'")
            .await;
    }
    gateway.until_accepted(a, "the gateway accepts again").await;
}

#[tokio::test]
async fn commands_in_flight_past_the_bound_shed_every_tenant_until_they_finish() {
    let gateway = Gateway::start(|s| {
        overload(s, 0, 0, 0);
        s.overload.max_in_flight_commands = 2;
    })
    .await;
    let (a, b) = (
        gateway.db.active_tenant().await,
        gateway.db.active_tenant().await,
    );
    for tenant in [a, a, b] {
        assert_eq!(gateway.post(tenant).await.status, StatusCode::ACCEPTED);
    }
    // Three open commands, none in flight: the queue is not in Temporal.
    gateway
        .keeps_accepting(
            b,
            Duration::from_millis(300),
            "pending commands are not in flight",
        )
        .await;
    // Two of them dispatched (in Temporal's queue, as far as PostgreSQL knows):
    // the bound is reached, and every tenant is shed, b too.
    gateway
        .db
        .execute_as_worker(
            a,
            "UPDATE commands SET status = 'dispatched', updated_at = now()",
        )
        .await;
    let shed = gateway.until_refused(b, "in flight past the bound").await;
    assert_refused(&shed, 503, "overloaded");
    let before = gateway.commands_of(b).await;
    assert_refused(&gateway.post(b).await, 503, "overloaded");
    assert_eq!(gateway.commands_of(b).await, before, "nothing written");
    assert!(gateway
        .metrics()
        .await
        .contains("kitchen_commands_shed_total{rule=\"in_flight\"}"));
    // One of them finishes: under the bound again.
    gateway
        .db
        .execute_as_worker(
            a,
            "UPDATE commands SET status = 'succeeded'
             WHERE id IN (SELECT id FROM commands WHERE status = 'dispatched' LIMIT 1)",
        )
        .await;
    gateway
        .until_accepted(b, "accepted once work finishes")
        .await;
}

#[tokio::test]
async fn a_dispatch_lag_sheds_only_while_a_pump_heartbeat_is_fresh() {
    let gateway = Gateway::start(|s| overload(s, 0, 0, 200)).await;
    let tenant = gateway.db.active_tenant().await;
    assert_eq!(gateway.post(tenant).await.status, StatusCode::ACCEPTED);
    // A command due for 10 s and not dispatched: the pump is behind...
    gateway
        .db
        .execute_as_worker(
            tenant,
            "UPDATE commands SET next_attempt_at = now() - interval '10 seconds'",
        )
        .await;
    // ...but no pump is alive: commands wait for one, as in any pump outage.
    gateway
        .keeps_accepting(
            tenant,
            Duration::from_millis(400),
            "accepted without a pump",
        )
        .await;
    let pump_id = Uuid::new_v4();
    gateway
        .db
        .execute_as(
            DbRole::Pump,
            tenant,
            &format!("INSERT INTO pump_heartbeats (pump_id) VALUES ('{pump_id}')"),
        )
        .await;
    let shed = gateway
        .until_refused(tenant, "a live pump that lags sheds")
        .await;
    assert_refused(&shed, 503, "overloaded");
    let before = gateway.commands_of(tenant).await;
    assert_refused(&gateway.post(tenant).await, 503, "overloaded");
    assert_eq!(gateway.commands_of(tenant).await, before, "nothing written");
    // The lagging command is dispatched: accepted again.
    gateway
        .db
        .execute_as_worker(tenant, "UPDATE commands SET status = 'dispatched'")
        .await;
    gateway
        .until_accepted(tenant, "accepted once the lag is gone")
        .await;
    assert!(gateway
        .metrics()
        .await
        .contains("kitchen_commands_shed_total{rule=\"dispatch_lag\"}"));
}

#[tokio::test]
async fn a_backlog_held_at_the_pumps_in_flight_cap_is_not_a_dispatch_lag() {
    let gateway = Gateway::start(|s| overload(s, 0, 0, 200)).await;
    let noisy = gateway.db.active_tenant().await;
    for _ in 0..3 {
        assert_eq!(gateway.post(noisy).await.status, StatusCode::ACCEPTED);
    }
    // One of the noisy tenant's commands is in flight (pump.max_in_flight_per_tenant
    // reached, say): the others, due for 10 s, wait for it, not for the platform.
    gateway
        .db
        .execute_as_worker(
            noisy,
            "UPDATE commands SET next_attempt_at = now() - interval '10 seconds'",
        )
        .await;
    gateway
        .db
        .execute_as_worker(
            noisy,
            "UPDATE commands SET status = 'dispatched'
             WHERE id = (SELECT id FROM commands ORDER BY id LIMIT 1)",
        )
        .await;
    let pump_id = Uuid::new_v4();
    gateway
        .db
        .execute_as(
            DbRole::Pump,
            noisy,
            &format!("INSERT INTO pump_heartbeats (pump_id) VALUES ('{pump_id}')"),
        )
        .await;
    // (Its own new commands join the held backlog: a quiet tenant's would
    // wait for want of a pump here, and show a lag of their own.)
    gateway
        .keeps_accepting(
            noisy,
            Duration::from_millis(600),
            "a held tenant's backlog is not the platform's lag",
        )
        .await;
    // Nothing of it in flight any more, and still due: now it is a lag (the
    // pump still beating).
    gateway
        .db
        .execute_as(
            DbRole::Pump,
            noisy,
            &format!("UPDATE pump_heartbeats SET beat_at = now() WHERE pump_id = '{pump_id}'"),
        )
        .await;
    gateway
        .db
        .execute_as_worker(
            noisy,
            "UPDATE commands SET status = 'succeeded' WHERE status = 'dispatched'",
        )
        .await;
    let shed = gateway
        .until_refused(noisy, "due work with nothing in flight sheds")
        .await;
    assert_refused(&shed, 503, "overloaded");
}

#[tokio::test]
async fn a_live_pump_reporting_a_slow_line_sheds_and_a_silent_one_does_not() {
    let gateway = Gateway::start(|s| overload(s, 0, 300, 0)).await;
    let tenant = gateway.db.active_tenant().await;
    let pump_id = Uuid::new_v4();
    // A pump whose last beat says a first-in-line command waited 2 s for a slot.
    gateway
        .db
        .execute_as(
            DbRole::Pump,
            tenant,
            &format!(
                "INSERT INTO pump_heartbeats (pump_id, head_wait_ms) VALUES ('{pump_id}', 2000)"
            ),
        )
        .await;
    let shed = gateway.until_refused(tenant, "a slow line sheds").await;
    assert_refused(&shed, 503, "overloaded");
    assert!(gateway
        .metrics()
        .await
        .contains("kitchen_commands_shed_total{rule=\"head_wait\"}"));
    // The same report, but the pump stopped beating 10 s ago: not believed.
    gateway
        .db
        .execute_as(
            DbRole::Pump,
            tenant,
            "UPDATE pump_heartbeats SET beat_at = now() - interval '10 seconds'",
        )
        .await;
    gateway
        .until_accepted(tenant, "a stale report is ignored")
        .await;
}
