//! The tenant gate on the real PostgreSQL: only `active` tenants pass; a seen
//! status is served from memory (no read per check); a NOTIFY on `tenants`
//! updates it at once and is announced; a LISTEN reconnect clears the cache.

use std::time::Duration;

use kitchen_adapters::config::DbRole;
use kitchen_adapters::shutdown::Shutdown;
use kitchen_adapters::tenant_gate::{GateError, StatusChange, TenantGate};
use kitchen_domain::TenantId;
use kitchen_test_support::{poll, TestDb};

async fn started_gate(db: &TestDb, shutdown: &Shutdown) -> TenantGate {
    let gate = TenantGate::new(db.pool(DbRole::Gateway), Duration::from_secs(600));
    gate.start(db.url(DbRole::Gateway), shutdown.clone());
    poll::until(Duration::from_secs(10), "gate listening", || async {
        gate.health().is_up().then_some(())
    })
    .await;
    gate
}

fn not_active(result: Result<(), GateError>) -> bool {
    matches!(result, Err(GateError::NotActive { .. }))
}

#[tokio::test]
async fn only_active_tenants_pass_and_a_seen_status_costs_no_read() {
    let db = TestDb::new().await.unwrap();
    // Inserted before the gate listens, so it learns them by reading.
    let active = db.active_tenant().await;
    let disabled = db.tenant_with_status("disabled").await;
    let provisioning = db.tenant_with_status("provisioning").await;
    let shutdown = Shutdown::new();
    let gate = started_gate(&db, &shutdown).await;

    gate.check(active).await.unwrap();
    assert!(not_active(gate.check(disabled).await));
    assert!(not_active(gate.check(provisioning).await));
    assert!(not_active(gate.check(TenantId::new_random()).await));
    let reads = gate.reads();
    assert_eq!(reads, 4, "one read per tenant seen");
    for _ in 0..100 {
        gate.check(active).await.unwrap();
        assert!(not_active(gate.check(disabled).await));
    }
    assert_eq!(gate.reads(), reads, "the hot path reads nothing");
    shutdown.trigger();
}

#[tokio::test]
async fn a_status_change_is_applied_and_announced_by_notify_and_a_reconnect_clears_the_cache() {
    let db = TestDb::new().await.unwrap();
    let shutdown = Shutdown::new();
    let gate = started_gate(&db, &shutdown).await;
    let mut changes = gate.subscribe();
    let tenant = db.active_tenant().await;
    gate.check(tenant).await.unwrap();

    db.set_tenant_status(tenant, "disabled").await;
    let change = poll::until(Duration::from_secs(10), "the change announced", || {
        let next = changes.try_recv().ok();
        async move { next.filter(|c: &StatusChange| c.tenant == tenant && !c.active) }
    })
    .await;
    assert_eq!(
        change,
        StatusChange {
            tenant,
            active: false
        }
    );
    let reads = gate.reads();
    assert!(not_active(gate.check(tenant).await));
    assert_eq!(
        gate.reads(),
        reads,
        "applied from the notification, not read"
    );

    // A lost connection: the cache is cleared and its tenants read again.
    assert!(db.terminate_backends("kitchen_gateway").await >= 1);
    poll::until(
        Duration::from_secs(15),
        "re-read after the reconnect",
        || async { (gate.reads() > reads && gate.health().is_up()).then_some(()) },
    )
    .await;
    db.set_tenant_status(tenant, "active").await;
    poll::until(Duration::from_secs(10), "active again", || async {
        gate.check(tenant).await.ok()
    })
    .await;
    shutdown.trigger();
}
