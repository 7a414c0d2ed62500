//! `seq` is gapless and grows in commit order: a reader that pages with the last
//! seq it saw, while writers append, sees every event exactly once, in order.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kitchen_adapters::config::DbRole;
use kitchen_adapters::postgres::PgEventStore;
use kitchen_domain::ports::{EventStore, StoreError};
use kitchen_domain::{AggregateId, EventId, Seq, TenantId, Version};
use kitchen_test_support::fixtures::{
    created_snapshot, order_created, order_stream, status_updated,
};
use kitchen_test_support::TestDb;
use serde_json::json;

const WRITERS: usize = 8;
const APPENDS_PER_WRITER: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_live_reader_sees_every_seq_once_in_order_while_eight_writers_append() {
    let db = TestDb::new().await.unwrap();
    let writer_store = Arc::new(PgEventStore::new(db.pool(DbRole::Worker)));
    // The reader connects as realtime, the service that pages this way in production.
    let reader_store = PgEventStore::new(db.pool(DbRole::Realtime));
    let tenant = TenantId::new_random();
    let committed_at: Arc<Mutex<HashMap<EventId, Instant>>> = Arc::default();
    let writers_done = Arc::new(AtomicBool::new(false));

    let mut writers = Vec::new();
    for _ in 0..WRITERS {
        let store = writer_store.clone();
        let committed_at = committed_at.clone();
        writers.push(tokio::spawn(async move {
            let order = AggregateId::new_random();
            let stream = order_stream(order);
            for version in 0..APPENDS_PER_WRITER {
                let event = if version == 0 {
                    order_created(order)
                } else {
                    status_updated(order)
                };
                let id = event.id;
                store
                    .append(
                        tenant,
                        &stream,
                        Version::new(version as i64).unwrap(),
                        vec![event],
                        created_snapshot(order),
                    )
                    .await
                    .expect("append");
                committed_at.lock().unwrap().insert(id, Instant::now());
            }
        }));
    }
    let done_flag = writers_done.clone();
    let all_writers = tokio::spawn(async move {
        for writer in writers {
            writer.await.unwrap();
        }
        done_flag.store(true, Ordering::SeqCst);
    });

    let total = (WRITERS * APPENDS_PER_WRITER) as i64;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = Seq::ZERO;
    let mut seen_at: Vec<(EventId, Instant)> = Vec::with_capacity(total as usize);
    let mut seen_during_writes = 0usize;
    let mut reads_during_writes = 0usize;
    while last.get() < total {
        assert!(Instant::now() < deadline, "reader stuck at seq {last}");
        let writing = !writers_done.load(Ordering::SeqCst);
        let page = reader_store.read(tenant, last, 1000).await.unwrap();
        let now = Instant::now();
        if writing && !page.is_empty() {
            reads_during_writes += 1;
            seen_during_writes += page.len();
        }
        for event in &page {
            assert_eq!(
                event.seq.get(),
                last.get() + 1,
                "gap or duplicate after seq {last}"
            );
            assert_eq!(event.tenant_id, tenant);
            last = event.seq;
            seen_at.push((event.id, now));
        }
        if page.is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    all_writers.await.unwrap();
    assert_eq!(seen_at.len() as i64, total);
    assert!(
        reader_store
            .read(tenant, last, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing past the end"
    );
    assert!(
        reads_during_writes >= 10 && seen_during_writes >= total as usize / 10,
        "the reader must keep up during the writes: {reads_during_writes} reads, {seen_during_writes} events"
    );

    // How long after its append returned did the reader see each event?
    let committed_at = committed_at.lock().unwrap();
    let mut lags: Vec<Duration> = seen_at
        .iter()
        .map(|(id, seen)| seen.saturating_duration_since(committed_at[id]))
        .collect();
    lags.sort();
    let p = |q: f64| lags[((lags.len() as f64 - 1.0) * q) as usize];
    println!(
        "seq ordering: {total} appends by {WRITERS} writers; reader saw {seen_during_writes} during writes in {reads_during_writes} reads; lag after commit p50 {:?}, p99 {:?}, max {:?}",
        p(0.5),
        p(0.99),
        lags.last().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_appends_to_one_stream_each_version_is_won_exactly_once() {
    let db = TestDb::new().await.unwrap();
    let store = Arc::new(PgEventStore::new(db.pool(DbRole::Worker)));
    let tenant = TenantId::new_random();
    let order = AggregateId::new_random();
    store
        .append(
            tenant,
            &order_stream(order),
            Version::ZERO,
            vec![order_created(order)],
            json!({}),
        )
        .await
        .unwrap();
    let mut racers = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        racers.push(tokio::spawn(async move {
            let (mut wins, mut conflicts) = (0, 0);
            while wins < 25 {
                let at = store
                    .load(tenant, &order_stream(order))
                    .await
                    .unwrap()
                    .version();
                match store
                    .append(
                        tenant,
                        &order_stream(order),
                        at,
                        vec![status_updated(order)],
                        json!({}),
                    )
                    .await
                {
                    Ok(_) => wins += 1,
                    Err(StoreError::Conflict { .. }) => conflicts += 1,
                    Err(other) => panic!("unexpected {other:?}"),
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for racer in racers {
        conflicts += racer.await.unwrap();
    }
    let events = store.read(tenant, Seq::ZERO, 1000).await.unwrap();
    assert_eq!(events.len(), 1 + 8 * 25);
    let versions: Vec<i64> = events.iter().map(|e| e.version.get()).collect();
    assert_eq!(
        versions,
        (1..=201).collect::<Vec<_>>(),
        "versions follow seqs, no gap, no duplicate"
    );
    println!("racing appends: 200 wins, {conflicts} conflicts");
}
