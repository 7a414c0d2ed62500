//! A noisy tenant far past its quotas beside a quiet one (issue 15), on the
//! real stack (PostgreSQL, Temporal dev server, gateway, pump, worker): the
//! noisy tenant's backlog never holds up the quiet tenant's commands, the
//! gateway refuses the noisy tenant (429) and never the quiet one (no 429,
//! and no 503: one tenant's backlog is not the platform's overload), and
//! everything accepted completes.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{create_order_payload, Stack};
use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::RunQueryDsl;
use kitchen_adapters::config::DbRole;
use kitchen_adapters::postgres::{in_tenant_tx, TxError};
use kitchen_domain::TenantId;
use kitchen_test_support::{poll, tokens};
use serde_json::{json, Value};
use uuid::Uuid;

const NOISY_BACKLOG: usize = 1000;
const WAIT: Duration = Duration::from_secs(300);

#[derive(QueryableByName)]
struct StatusCount {
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The tenant's commands by status, read from the table (as the worker).
async fn statuses(stack: &Stack, tenant: TenantId, ids: Option<&[Uuid]>) -> HashMap<String, i64> {
    let filter = match ids {
        Some(ids) => format!(
            "WHERE id IN ({})",
            ids.iter()
                .map(|id| format!("'{id}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => String::new(),
    };
    let sql = format!("SELECT status, count(*) AS n FROM commands {filter} GROUP BY status");
    let rows: Vec<StatusCount> = in_tenant_tx(&stack.db.pool(DbRole::Worker), tenant, |conn| {
        async move {
            diesel::sql_query(sql)
                .load(conn)
                .await
                .map_err(Failure::from)
        }
        .scope_boxed()
    })
    .await
    .map_err(|e: Failure| e.0)
    .expect("read statuses");
    rows.into_iter().map(|r| (r.status, r.n)).collect()
}

struct Failure(String);
impl From<TxError> for Failure {
    fn from(e: TxError) -> Self {
        Failure(e.to_string())
    }
}
impl From<diesel::result::Error> for Failure {
    fn from(e: diesel::result::Error) -> Self {
        Failure(e.to_string())
    }
}

fn waiting(counts: &HashMap<String, i64>) -> i64 {
    counts.get("pending").copied().unwrap_or(0) + counts.get("claimed").copied().unwrap_or(0)
}

/// Posts as `tenant`; the status and problem code.
async fn try_post(stack: &Stack, tenant: TenantId) -> (u16, Option<String>) {
    let response = stack
        .http
        .post(format!("{}/v1/commands", stack.base))
        .bearer_auth(tokens::valid(&stack.settings.auth, tenant))
        .json(&json!({"type": "createOrder", "payload": create_order_payload(Uuid::new_v4())}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().map(str::to_owned))
}

/// Waits until none of `quiet` waits for dispatch; returns how many of the
/// noisy tenant's commands still did at that moment.
async fn noisy_waiting_when_quiet_dispatched(
    stack: &Stack,
    noisy: TenantId,
    quiet: TenantId,
    ids: &[Uuid],
) -> i64 {
    poll::until(WAIT, "the quiet commands are dispatched", || async {
        let noisy_waiting = waiting(&statuses(stack, noisy, None).await);
        let quiet_waiting = waiting(&statuses(stack, quiet, Some(ids)).await);
        (quiet_waiting == 0).then_some(noisy_waiting)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_noisy_tenants_backlog_never_holds_up_a_quiet_tenants_commands() {
    let mut stack = Stack::new(|s| {
        // The quiet tenant's 20 fit its burst; the noisy tenant's do not.
        s.quotas.commands_per_sec = 1;
        s.quotas.command_burst = 20;
        s.quotas.max_open_commands = 100;
        // Refusals answered at once: the 30 below count tokens, not holds.
        s.quotas.refusal_hold_ms = 0;
        // Overload shedding stays on (its defaults): one tenant's backlog must
        // not make the gateway shed the others.
    })
    .await;
    kitchen_test_support::temporal::require_shared(&stack.settings.temporal.address).await;
    let quiet = stack.tenant;
    let noisy = stack.db.active_tenant().await;
    let inserted = stack.db.insert_pending_orders(noisy, NOISY_BACKLOG).await;
    assert_eq!(inserted, NOISY_BACKLOG);

    // The noisy tenant is far past its quotas: its open bound, then its rate.
    let mut refusals: HashMap<String, usize> = HashMap::new();
    for _ in 0..30 {
        let (status, code) = try_post(&stack, noisy).await;
        assert_eq!(status, 429, "the noisy tenant is refused ({code:?})");
        *refusals.entry(code.unwrap_or_default()).or_default() += 1;
    }
    // The first 20 (its burst) reach the insert, which finds 1,000 open; the
    // rest find the bucket empty (one token may have come back meanwhile).
    let backlog_full = refusals.get("tenant_backlog_full").copied().unwrap_or(0);
    let rate_limited = refusals.get("tenant_rate_limited").copied().unwrap_or(0);
    assert!(
        (20..=21).contains(&backlog_full) && backlog_full + rate_limited == 30,
        "{refusals:?}"
    );

    // Round 1, no pump yet: both backlogs are in the table when it starts, so
    // the sweep (due_commands) deals them.
    let mut quiet_ids = Vec::new();
    for _ in 0..10 {
        // post_as asserts 202: the quiet tenant is never refused.
        quiet_ids.push(
            stack
                .post_as(quiet, "createOrder", create_order_payload(Uuid::new_v4()))
                .await,
        );
    }
    stack.start_worker().await;
    stack.start_pump().await;
    let left = noisy_waiting_when_quiet_dispatched(&stack, noisy, quiet, &quiet_ids).await;
    println!("sweep: the quiet commands were dispatched with {left} noisy ones still waiting");
    // Dealt in turns, the quiet commands go out among the first noisy ones
    // (one noisy per turn, plus what the free start slots took meanwhile);
    // first come first served, they would wait behind all 1,000.
    assert!(
        left >= (NOISY_BACKLOG - 100) as i64,
        "only {left} of {NOISY_BACKLOG} noisy commands still waited"
    );

    // Round 2, the pump running and the noisy backlog draining: each new
    // quiet command comes by NOTIFY and goes ahead of the noisy line.
    let round_two: Vec<Uuid> = {
        let mut ids = Vec::new();
        for _ in 0..10 {
            ids.push(
                stack
                    .post_as(quiet, "createOrder", create_order_payload(Uuid::new_v4()))
                    .await,
            );
        }
        ids
    };
    let left = noisy_waiting_when_quiet_dispatched(&stack, noisy, quiet, &round_two).await;
    println!("notify: the quiet commands were dispatched with {left} noisy ones still waiting");
    assert!(
        left > 0,
        "the noisy backlog drained before the quiet commands"
    );
    quiet_ids.extend(round_two);

    // Everything accepted completes: the quiet commands, and the whole backlog.
    for (id, command) in stack.wait_all_final(&quiet_ids, WAIT).await {
        assert_eq!(command["status"], "succeeded", "{id}: {command}");
    }
    poll::until(WAIT, "the noisy backlog completes", || async {
        let counts = statuses(&stack, noisy, None).await;
        (counts.get("succeeded") == Some(&(NOISY_BACKLOG as i64))).then_some(())
    })
    .await;
    stack.stop_pumps().await;
    stack.stop_workers().await;
}
