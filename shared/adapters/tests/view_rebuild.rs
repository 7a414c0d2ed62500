//! Rebuilding views on the real PostgreSQL: a projection version change found
//! at startup is rebuilt from the log (v1 events upcast on the way), an
//! interrupted rebuild resumes where it stopped, and two worker replicas
//! starting together rebuild each view once.

use std::collections::BTreeSet;

use kitchen_adapters::config::DbRole;
use kitchen_adapters::postgres::views::{
    read_view, rebuild, rebuild_at_startup, Progress, RebuildOptions, RebuildOutcome, RebuildScope,
    ViewReadError,
};
use kitchen_adapters::postgres::PgEventStore;
use kitchen_adapters::shutdown::Shutdown;
use kitchen_domain::projection::{projection, PROJECTIONS};
use kitchen_domain::{AggregateId, TenantId};
use kitchen_test_support::fixtures::append_created;
use kitchen_test_support::views::{fold_at, whole_log};
use kitchen_test_support::TestDb;

/// Makes every view of `tenant` look built by an older projection version,
/// as after a deployment that bumped every version.
async fn age_views(db: &TestDb, tenant: TenantId) {
    db.execute_as_worker(tenant, "UPDATE view_heads SET version = 0")
        .await;
}

async fn run(db: &TestDb, scope: RebuildScope, batch: u32) -> RebuildOutcome {
    let options = RebuildOptions {
        batch,
        ..RebuildOptions::default()
    };
    rebuild(
        &db.url(DbRole::Worker),
        &db.pool(DbRole::Worker),
        scope,
        options,
        |_| {},
    )
    .await
    .unwrap()
}

async fn assert_views_are_the_fold(db: &TestDb, store: &PgEventStore, tenant: TenantId) {
    let log = whole_log(store, tenant).await;
    let head = log.last().unwrap().seq;
    for p in PROJECTIONS {
        let read = read_view(&db.pool(DbRole::Gateway), tenant, p, None)
            .await
            .unwrap();
        assert_eq!(read.seq, head, "{}", p.name);
        assert_eq!(read.view, fold_at(p.name, &log, head), "{}", p.name);
    }
}

#[tokio::test]
async fn views_missing_for_a_log_written_before_them_are_built_from_it_v1_events_included() {
    let db = TestDb::new().await.unwrap();
    let tenant = db.active_tenant().await;
    let store = PgEventStore::new(db.pool(DbRole::Worker));
    // Release 1's rows (seq 1, an OrderCreated v1), then appends of this release.
    db.seed_v1_order(tenant, AggregateId::new_random()).await;
    for _ in 0..5 {
        append_created(&store, tenant, AggregateId::new_random()).await;
    }
    let board = projection("orderBoard").unwrap();
    let before = read_view(&db.pool(DbRole::Gateway), tenant, board, None).await;
    assert!(
        matches!(before, Err(ViewReadError::NotBuilt("orderBoard"))),
        "{before:?}"
    );

    let RebuildOutcome::Ran(rebuilt) = run(&db, RebuildScope::VersionChanges, 2).await else {
        panic!("the only runner runs")
    };
    assert_eq!(rebuilt.len(), PROJECTIONS.len());
    assert_views_are_the_fold(&db, &store, tenant).await;
    let read = read_view(&db.pool(DbRole::Gateway), tenant, board, None)
        .await
        .unwrap();
    let customers: Vec<&str> = read.view["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["customerId"].as_str().unwrap())
        .collect();
    assert!(customers.contains(&"legacy-user"), "{customers:?}");

    // Appends after the rebuild keep the new generation current; nothing is left to do.
    append_created(&store, tenant, AggregateId::new_random()).await;
    assert_views_are_the_fold(&db, &store, tenant).await;
    assert_eq!(
        run(&db, RebuildScope::VersionChanges, 2).await,
        RebuildOutcome::Ran(vec![])
    );
}

#[tokio::test]
async fn an_interrupted_rebuild_resumes_where_it_stopped() {
    let db = TestDb::new().await.unwrap();
    let tenant = db.active_tenant().await;
    let store = PgEventStore::new(db.pool(DbRole::Worker));
    for _ in 0..12 {
        append_created(&store, tenant, AggregateId::new_random()).await;
    }
    age_views(&db, tenant).await;
    // The first run dies (a panic, as a killed process) after its second batch.
    let (url, pool) = (db.url(DbRole::Worker), db.pool(DbRole::Worker));
    let board = projection("orderBoard").unwrap();
    let interrupted = tokio::spawn(async move {
        let mut batches = 0;
        let scope = RebuildScope::Forced {
            projection: board,
            tenant: Some(tenant),
        };
        let options = RebuildOptions {
            batch: 3,
            ..RebuildOptions::default()
        };
        rebuild(&url, &pool, scope, options, |p| {
            if matches!(p, Progress::Batch { .. }) {
                batches += 1;
                assert!(batches < 2, "killed after the second batch");
            }
        })
        .await
    })
    .await;
    assert!(interrupted.is_err(), "the first run died");
    // The old view is still the one read, and complete.
    let read = read_view(&db.pool(DbRole::Gateway), tenant, board, None)
        .await
        .unwrap();
    assert_eq!(read.seq.get(), 12);

    let scope = RebuildScope::Forced {
        projection: board,
        tenant: Some(tenant),
    };
    let RebuildOutcome::Ran(rebuilt) = run(&db, scope, 3).await else {
        panic!("the lock died with the first run's session")
    };
    assert_eq!(rebuilt.len(), 1);
    assert!(rebuilt[0].resumed, "{rebuilt:?}");
    assert_eq!(
        rebuilt[0].built_events + rebuilt[0].caught_up_events,
        6,
        "only the events after the two committed batches: {rebuilt:?}"
    );
    assert_views_are_the_fold(&db, &store, tenant).await;
}

#[tokio::test]
async fn two_replicas_starting_with_new_versions_rebuild_each_view_once() {
    let db = TestDb::new().await.unwrap();
    let store = PgEventStore::new(db.pool(DbRole::Worker));
    let mut tenants = Vec::new();
    for _ in 0..3 {
        let tenant = db.active_tenant().await;
        for _ in 0..40 {
            append_created(&store, tenant, AggregateId::new_random()).await;
        }
        age_views(&db, tenant).await;
        tenants.push(tenant);
    }
    // Two worker replicas start with the new versions.
    let replica = || {
        rebuild_at_startup(
            db.url(DbRole::Worker),
            db.pool(DbRole::Worker),
            Shutdown::new(),
        )
    };
    let (first, second) = tokio::join!(replica(), replica());
    let mut built = Vec::new();
    let mut skipped = 0;
    for outcome in [first, second] {
        match outcome.expect("not shut down") {
            RebuildOutcome::Ran(views) => built.extend(views),
            RebuildOutcome::AnotherRunnerHoldsTheLock => skipped += 1,
        }
    }
    let distinct: BTreeSet<_> = built.iter().map(|v| (v.tenant, v.projection)).collect();
    assert_eq!(built.len(), tenants.len() * PROJECTIONS.len(), "{built:?}");
    assert_eq!(distinct.len(), built.len(), "no view built twice");
    println!("{skipped} runner(s) found the lock taken");
    for tenant in tenants {
        assert_views_are_the_fold(&db, &store, tenant).await;
    }
}
