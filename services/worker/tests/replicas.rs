//! Two replicas of every service at once (two gateways, two pumps, two workers,
//! two realtime instances) under load from several tenants: every command runs
//! exactly once, and a socket on either realtime instance receives every event
//! of its tenant, in order.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::{create_order_payload, Stack};
use kitchen_adapters::shutdown::Shutdown;
use kitchen_domain::TenantId;
use kitchen_test_support::socket::{self, next_frame, Ws};
use kitchen_test_support::tokens;
use serde_json::{json, Value};
use uuid::Uuid;

const TENANTS: usize = 4;
const COMMANDS_PER_TENANT: usize = 60;

/// The value of an unlabelled series in Prometheus text.
fn series(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Reads event frames until `count` events; returns their seqs.
async fn read_events(ws: &mut Ws, tenant: TenantId, count: usize) -> Vec<i64> {
    let mut seqs = Vec::new();
    while seqs.len() < count {
        let frame = next_frame(ws).await.expect("the socket stays open");
        if frame["type"] == "event" {
            assert_eq!(
                frame["event"]["tenantId"],
                tenant.to_string(),
                "another tenant's event"
            );
            seqs.push(frame["event"]["seq"].as_i64().unwrap());
        }
    }
    seqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_of_every_service_run_each_command_once_and_both_realtimes_stream_everything() {
    // Eight services in one process: small pools, so they fit PostgreSQL's
    // default 100 connections beside other tests.
    let mut stack = Stack::new(|settings| settings.database.pool_size = 4).await;
    kitchen_test_support::temporal::require_shared(&stack.settings.temporal.address).await;
    stack.start_pump().await;
    let worker_a = stack.start_worker().await;
    let pump_b = stack.start_pump().await;
    let worker_b = stack.start_worker().await;
    let gateways = [
        stack.base.clone(),
        format!(
            "http://{}",
            command_gateway::build(&stack.settings, &Shutdown::new())
                .unwrap()
                .spawn()
        ),
    ];
    let realtimes = [stack.start_realtime(), stack.start_realtime()];
    let mut tenants = Vec::new();
    for _ in 0..TENANTS {
        tenants.push(stack.db.active_tenant().await);
    }

    // Each tenant: one socket on each realtime instance.
    let mut sockets = Vec::new();
    for tenant in &tenants {
        let token = tokens::valid(&stack.settings.auth, *tenant);
        for realtime in &realtimes {
            sockets.push((*tenant, socket::connect(realtime, &token, 0).await));
        }
    }

    // Commands spread over both gateways, all tenants at once.
    let posts = tenants
        .iter()
        .flat_map(|tenant| (0..COMMANDS_PER_TENANT).map(move |i| (*tenant, i)));
    let posts = posts.map(|(tenant, i)| {
        let (http, gateway) = (stack.http.clone(), gateways[i % 2].clone());
        let token = tokens::valid(&stack.settings.auth, tenant);
        async move {
            let response = http
                .post(format!("{gateway}/v1/commands"))
                .bearer_auth(token)
                .json(&json!({"type": "createOrder", "payload": create_order_payload(Uuid::new_v4())}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 202);
            let body: Value = response.json().await.unwrap();
            (tenant, body["commandId"].as_str().unwrap().parse::<Uuid>().unwrap())
        }
    });
    let accepted: Vec<(TenantId, Uuid)> = futures_util::future::join_all(posts).await;

    // Every command succeeds with one event; none is applied twice.
    let mut by_tenant: HashMap<TenantId, Vec<Uuid>> = HashMap::new();
    for (tenant, id) in &accepted {
        by_tenant.entry(*tenant).or_default().push(*id);
    }
    for (tenant, ids) in &by_tenant {
        let token = tokens::valid(&stack.settings.auth, *tenant);
        for id in ids {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
            loop {
                let command = stack
                    .get_json(&format!("{}/v1/commands/{id}", gateways[1]), &token)
                    .await;
                if command["status"] == "succeeded" {
                    assert_eq!(
                        command["eventSeqs"].as_array().map(Vec::len),
                        Some(1),
                        "{command}"
                    );
                    break;
                }
                assert!(
                    !matches!(command["status"].as_str(), Some("rejected" | "failed")),
                    "{command}"
                );
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{id} not final: {command}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let events = stack.events_of(*tenant).await;
        let causes: HashSet<Uuid> = events.iter().map(|e| e.causation_id).collect();
        assert_eq!(
            events.len(),
            COMMANDS_PER_TENANT,
            "{tenant}: one event per command"
        );
        assert_eq!(
            causes,
            ids.iter().copied().collect(),
            "{tenant}: each command applied once"
        );
        let seqs: Vec<i64> = events.iter().map(|e| e.seq.get()).collect();
        assert_eq!(seqs, (1..=COMMANDS_PER_TENANT as i64).collect::<Vec<_>>());
    }

    // Both realtime instances streamed every tenant's whole log, in order.
    for (tenant, ws) in sockets.iter_mut() {
        let seqs = read_events(ws, *tenant, COMMANDS_PER_TENANT).await;
        assert_eq!(
            seqs,
            (1..=COMMANDS_PER_TENANT as i64).collect::<Vec<_>>(),
            "{tenant}"
        );
    }

    let pumps = stack.pump_stats();
    let claims: Vec<u64> = pumps.iter().map(|p| p.claims.get()).collect();
    let succeeded = |registry| {
        series(
            &kitchen_adapters::metrics::render(registry),
            r#"kitchen_worker_commands_total{outcome="succeeded"}"#,
        )
    };
    println!(
        "replicas: {} commands over 2 gateways; claims per pump {claims:?} (second pump {}); \
         commands succeeded per worker [{}, {}]",
        accepted.len(),
        pump_b.claims.get(),
        succeeded(&worker_a),
        succeeded(&worker_b),
    );
}
