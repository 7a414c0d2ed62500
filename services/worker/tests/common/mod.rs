//! The whole write path for tests: gateway (HTTP, port 0), pump and worker
//! in-process or as a child process, on a fresh database and a task queue of
//! the test's own, against a real Temporal dev server.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use command_pump::{Pump, PumpMetrics};
use kitchen_adapters::config::{DbRole, Settings};
use kitchen_adapters::postgres::PgEventStore;
use kitchen_adapters::shutdown::Shutdown;
use kitchen_domain::ports::EventStore;
use kitchen_domain::{RecordedEvent, Seq, TenantId};
use kitchen_temporal::TemporalScheduler;

pub mod platform;
pub mod secrets;
use kitchen_test_support::{temporal, tokens, TestDb};
use serde_json::{json, Value};
use uuid::Uuid;

pub struct Stack {
    pub db: TestDb,
    pub settings: Settings,
    pub base: String,
    pub http: reqwest::Client,
    pub tenant: TenantId,
    pumps: Vec<(Shutdown, tokio::task::JoinHandle<()>, Arc<PumpMetrics>)>,
    workers: Vec<(Shutdown, std::thread::JoinHandle<anyhow::Result<()>>)>,
    children: Vec<tokio::process::Child>,
}

impl Stack {
    /// Gateway only; start pumps and workers as the test needs.
    pub async fn new(adjust: impl FnOnce(&mut Settings)) -> Stack {
        let db = TestDb::new().await.unwrap();
        let mut settings = db.platform_settings();
        settings.temporal.task_queue = format!("kitchen-test-{}", Uuid::new_v4());
        settings.pump.sweep_interval_ms = 250;
        settings.pump.stale_claim_secs = 3;
        settings.pump.backoff_base_ms = 100;
        settings.pump.backoff_max_ms = 1000;
        adjust(&mut settings);
        let base = format!(
            "http://{}",
            command_gateway::build(&settings, &Shutdown::new())
                .unwrap()
                .spawn()
        );
        let tenant = db.active_tenant().await;
        Stack {
            db,
            settings,
            base,
            http: reqwest::Client::new(),
            tenant,
            pumps: Vec::new(),
            workers: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Gateway, one pump and one worker, on the shared dev server.
    pub async fn full() -> Stack {
        Self::full_with(|_| {}).await
    }

    /// As `full`, with `adjust` applied to the settings first.
    pub async fn full_with(adjust: impl FnOnce(&mut Settings)) -> Stack {
        let stack = Stack::new(adjust).await;
        temporal::require_shared(&stack.settings.temporal.address).await;
        let mut stack = stack;
        stack.start_pump().await;
        stack.start_worker().await;
        stack
    }

    pub async fn start_pump(&mut self) -> Arc<PumpMetrics> {
        let client = loop {
            match kitchen_temporal::connect(&self.settings.temporal, "test-pump").await {
                Ok(client) => break client,
                Err(e) => {
                    eprintln!("pump cannot reach Temporal yet: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        };
        let scheduler = TemporalScheduler::new(client, self.settings.temporal.task_queue.clone());
        let pump = Pump::new(&self.settings, scheduler).unwrap();
        let stats = pump.metrics();
        let stop = Shutdown::new();
        let handle = tokio::spawn(pump.run(stop.clone()));
        self.pumps.push((stop, handle, stats.clone()));
        stats
    }

    /// Stops every pump and waits for them.
    pub async fn stop_pumps(&mut self) {
        for (stop, handle, _) in self.pumps.drain(..) {
            stop.trigger();
            let _ = handle.await;
        }
    }

    /// Starts a worker in-process; returns the registry of its series.
    pub async fn start_worker(&mut self) -> prometheus::Registry {
        let stop = Shutdown::new();
        let stopped = stop.clone();
        let settings = self.settings.clone();
        let pool = self.db.pool(DbRole::Worker);
        let registry = kitchen_adapters::metrics::registry();
        let worker_registry = registry.clone();
        // The SDK's worker future is not Send: give it a runtime of its own.
        let handle = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(worker::run(&settings, pool, &worker_registry, stopped))
        });
        self.workers.push((stop, handle));
        registry
    }

    pub async fn stop_workers(&mut self) {
        for (stop, handle) in self.workers.drain(..) {
            stop.trigger();
            let joined = tokio::task::spawn_blocking(move || handle.join());
            let _ = tokio::time::timeout(Duration::from_secs(15), joined).await;
        }
    }

    /// Starts the worker binary as a child process (so it can be SIGKILLed).
    pub fn spawn_worker_process(&mut self) -> u32 {
        self.spawn_worker_process_with(&[])
    }

    /// As `spawn_worker_process`, with extra environment variables.
    pub fn spawn_worker_process_with(&mut self, env: &[(&str, &str)]) -> u32 {
        let s = &self.settings;
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_worker"))
            .env(
                "KITCHEN_ENV",
                kitchen_test_support::process::test_environment(),
            )
            // Its ops port chosen by the system, so a stack of the machine
            // (scripts/dev-up holds 8083) does not fail the test.
            .env("KITCHEN__WORKER__PORT", "0")
            .envs(env.iter().copied())
            .env("KITCHEN__DATABASE__NAME", &s.database.name)
            .env("KITCHEN__DATABASE__HOST", &s.database.host)
            .env("KITCHEN__DATABASE__PORT", s.database.port.to_string())
            .env("KITCHEN__TEMPORAL__ADDRESS", &s.temporal.address)
            .env("KITCHEN__TEMPORAL__TASK_QUEUE", &s.temporal.task_queue)
            .env("RUST_LOG", "warn")
            .kill_on_drop(true)
            .spawn()
            .expect("spawn worker binary");
        let pid = child.id().unwrap();
        self.children.push(child);
        pid
    }

    /// SIGTERMs every worker child; each must exit within `within`. Returns
    /// their exit statuses and how long each took.
    pub async fn terminate_worker_processes(
        &mut self,
        within: Duration,
    ) -> Vec<(std::process::ExitStatus, Duration)> {
        let mut out = Vec::new();
        for mut child in self.children.drain(..) {
            out.push(kitchen_test_support::process::terminate(&mut child, within).await);
        }
        out
    }

    /// SIGKILLs every worker child: a crash, no draining.
    pub async fn kill_worker_processes(&mut self) {
        for mut child in self.children.drain(..) {
            let _ = child.kill().await;
        }
    }

    /// Starts realtime on a free port; returns its `ws://` base URL.
    pub fn start_realtime(&self) -> String {
        let app = realtime::build(&self.settings, &Shutdown::new()).unwrap();
        format!("ws://{}", app.spawn())
    }

    pub fn token(&self) -> String {
        tokens::valid(&self.settings.auth, self.tenant)
    }

    /// POSTs a command; returns its id. Panics unless 202.
    pub async fn post(&self, command_type: &str, payload: Value) -> Uuid {
        self.post_as(self.tenant, command_type, payload).await
    }

    /// POSTs a command for `tenant`.
    pub async fn post_as(&self, tenant: TenantId, command_type: &str, payload: Value) -> Uuid {
        let response = self
            .http
            .post(format!("{}/v1/commands", self.base))
            .bearer_auth(tokens::valid(&self.settings.auth, tenant))
            .json(&json!({"type": command_type, "payload": payload}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 202);
        let body: Value = response.json().await.unwrap();
        body["commandId"].as_str().unwrap().parse().unwrap()
    }

    pub async fn command(&self, id: Uuid) -> Value {
        self.get_json(&format!("{}/v1/commands/{id}", self.base), &self.token())
            .await
    }

    /// `GET url` with `token`; the JSON body.
    pub async fn get_json(&self, url: &str, token: &str) -> Value {
        self.http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Polls until the command is final (succeeded, rejected, failed).
    pub async fn wait_final(&self, id: Uuid, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let command = self.command(id).await;
            if matches!(
                command["status"].as_str(),
                Some("succeeded" | "rejected" | "failed")
            ) {
                return command;
            }
            assert!(
                Instant::now() < deadline,
                "command {id} not final in {timeout:?}: {command}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for every command to be final; returns them by id.
    pub async fn wait_all_final(&self, ids: &[Uuid], timeout: Duration) -> HashMap<Uuid, Value> {
        let mut out = HashMap::new();
        let deadline = Instant::now() + timeout;
        for id in ids {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            out.insert(*id, self.wait_final(*id, left).await);
        }
        out
    }

    /// Every event of the stack's tenant, in seq order (read as realtime).
    pub async fn events(&self) -> Vec<RecordedEvent> {
        self.events_of(self.tenant).await
    }

    /// Every event of `tenant`, in seq order (read as realtime).
    pub async fn events_of(&self, tenant: TenantId) -> Vec<RecordedEvent> {
        let store = PgEventStore::new(self.db.pool(DbRole::Realtime));
        let mut all = Vec::new();
        let mut after = Seq::ZERO;
        loop {
            let page = store.read(tenant, after, 1000).await.unwrap();
            let Some(last) = page.last() else { break };
            after = last.seq;
            all.extend(page);
        }
        all
    }

    pub fn pump_stats(&self) -> Vec<Arc<PumpMetrics>> {
        self.pumps.iter().map(|(_, _, s)| s.clone()).collect()
    }
}

pub fn create_order_payload(order: Uuid) -> Value {
    json!({
        "orderId": order,
        "userId": "user-123",
        "items": [{"menuItemId": "menu-item-1", "quantity": 1}]
    })
}
