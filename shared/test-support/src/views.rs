//! Checks of read models shared by the adapter and gateway tests: a view
//! must equal the fold of the log up to the seq it claims.

use kitchen_domain::ports::EventStore;
use kitchen_domain::projection::projection;
use kitchen_domain::{RecordedEvent, Seq, TenantId};
use serde_json::Value;

/// The tenant's whole log, upcast, in seq order.
pub async fn whole_log<S: EventStore>(store: &S, tenant: TenantId) -> Vec<RecordedEvent> {
    let mut log = Vec::new();
    loop {
        let after = log
            .last()
            .map(|e: &RecordedEvent| e.seq)
            .unwrap_or(Seq::ZERO);
        let page = store.read(tenant, after, 1000).await.expect("read the log");
        if page.is_empty() {
            return log;
        }
        log.extend(page);
    }
}

/// The view `name` folded in memory from the log's events up to `seq`.
pub fn fold_at(name: &str, log: &[RecordedEvent], seq: Seq) -> Value {
    let upto: Vec<RecordedEvent> = log.iter().filter(|e| e.seq <= seq).cloned().collect();
    assert_eq!(
        upto.len() as i64,
        seq.get(),
        "the log has every seq up to {seq}"
    );
    projection(name)
        .expect("a registered view")
        .fold(&upto)
        .expect("the log folds")
}

/// Whether every active view of `tenant` is at the tenant's head, read in one
/// snapshot as the gateway (which may read both).
pub async fn active_views_at_head(db: &crate::TestDb, tenant: TenantId) -> (i64, Vec<i64>) {
    use diesel::sql_types::{Array, BigInt};
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
    #[derive(diesel::QueryableByName)]
    struct Heads {
        #[diesel(sql_type = BigInt)]
        head: i64,
        #[diesel(sql_type = Array<BigInt>)]
        views: Vec<i64>,
    }
    let url = db.url(kitchen_adapters::config::DbRole::Gateway);
    let mut conn = AsyncPgConnection::establish(secrecy::ExposeSecret::expose_secret(&url))
        .await
        .expect("connect as gateway");
    conn.batch_execute(&format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT set_config('app.tenant_id', '{tenant}', true)"
    ))
    .await
    .expect("begin");
    let heads: Heads = diesel::sql_query(
        "SELECT coalesce((SELECT last_seq FROM tenant_sequences), 0) AS head,
                array(SELECT seq FROM view_heads WHERE state = 'active' ORDER BY projection) AS views",
    )
    .get_result(&mut conn)
    .await
    .expect("read the heads");
    conn.batch_execute("COMMIT").await.expect("commit");
    (heads.head, heads.views)
}
