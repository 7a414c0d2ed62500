//! The drill's clients: each tenant sends orders (create, advance, cancel;
//! some scheduled, so durable timers run across the faults) through
//! `POST /v1/commands` with an idempotency id, retrying the SAME id on
//! network errors and 5xx, as a well-behaved client does. Every answer is
//! counted; every command answered 2xx goes to the ledger the audit checks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kitchen_domain::TenantId;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// A provisioned household and the token its clients use.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub index: usize,
    pub id: TenantId,
    pub token: String,
}

/// What every client shares: the HTTP client, the gateway, and who sent
/// which command (to tell a foreign outcome frame).
#[derive(Debug, Clone)]
pub struct Clients {
    pub http: reqwest::Client,
    pub gateway: String,
    owners: Arc<Mutex<HashMap<Uuid, usize>>>,
}

impl Clients {
    pub fn new(gateway: String) -> anyhow::Result<Clients> {
        Ok(Clients {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            gateway,
            owners: Arc::default(),
        })
    }

    /// `GET {gateway}{path}` as `tenant`: its JSON, or `None` on any failure
    /// (the caller polls again).
    pub async fn get_json(&self, tenant: &Tenant, path: &str) -> Option<Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.gateway))
            .bearer_auth(&tenant.token)
            .send()
            .await
            .ok()?;
        response.json().await.ok()
    }

    /// The index of the tenant that sent command `id`, if a drill client did.
    pub fn owner(&self, id: Uuid) -> Option<usize> {
        self.owners.lock().expect("owners lock").get(&id).copied()
    }
}

/// A command answered 2xx: the audit must find it final.
#[derive(Debug, Clone, Copy)]
pub struct Answered {
    pub tenant: usize,
    pub id: Uuid,
    /// 202 (queued now) or 200 (a retry of a stored id).
    pub status: u16,
    /// Requests it took (1 unless retried).
    pub attempts: u32,
}

/// The answers of one phase.
#[derive(Debug)]
pub struct Tally {
    pub accepted: AtomicU64,
    /// 429 answers (a tenant's quota), per tenant.
    pub rate_limited: Vec<AtomicU64>,
    /// 503 `overloaded` answers (the platform shedding), per tenant.
    pub overloaded: Vec<AtomicU64>,
    /// Other 5xx answers (a dependency down), each retried.
    pub unavailable: AtomicU64,
    /// Requests that got no answer (connection refused or reset, timeout).
    pub network_errors: AtomicU64,
    /// Other 4xx answers: a client bug or a platform bug, never expected.
    pub refused: Mutex<Vec<String>>,
    /// Commands given up on without a 2xx after retrying for the whole budget.
    pub abandoned: AtomicU64,
    /// Commands answered 2xx in this phase.
    pub ledger: Mutex<Vec<Answered>>,
}

impl Tally {
    pub fn new(tenants: usize) -> Arc<Tally> {
        Arc::new(Tally {
            accepted: AtomicU64::new(0),
            rate_limited: (0..tenants).map(|_| AtomicU64::new(0)).collect(),
            overloaded: (0..tenants).map(|_| AtomicU64::new(0)).collect(),
            unavailable: AtomicU64::new(0),
            network_errors: AtomicU64::new(0),
            refused: Mutex::default(),
            abandoned: AtomicU64::new(0),
            ledger: Mutex::default(),
        })
    }

    pub fn rate_limited_total(&self) -> u64 {
        total(&self.rate_limited)
    }

    pub fn overloaded_total(&self) -> u64 {
        total(&self.overloaded)
    }
}

fn total(counts: &[AtomicU64]) -> u64 {
    counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
}

/// How a sender treats a refusal (429, 503 `overloaded`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnShed {
    /// Waits `Retry-After` and sends the same id again (a patient client).
    Retry,
    /// Moves on (a flood: the refusal is the point).
    GiveUp,
}

const STATUSES: [&str; 5] = ["placed", "confirmed", "preparing", "ready", "delivered"];
/// How long a command is retried before the client gives up on it.
const RETRY_BUDGET: Duration = Duration::from_secs(90);

/// A client's orders and how far it has moved each.
#[derive(Debug, Default)]
struct Orders {
    list: Vec<(Uuid, usize)>,
}

fn dice() -> u32 {
    (Uuid::new_v4().as_u128() % 100) as u32
}

impl Orders {
    /// The next command: mostly new orders, then steps along the status
    /// line, a few cancels (some are rejected: an order being prepared
    /// cannot be cancelled) and a few scheduled orders (a due timer).
    fn next(&mut self) -> (&'static str, Value) {
        let roll = dice();
        let open: Vec<usize> = (0..self.list.len())
            .filter(|&i| self.list[i].1 + 1 < STATUSES.len())
            .collect();
        if open.is_empty() || roll < 45 {
            let order = Uuid::new_v4();
            self.list.push((order, 0));
            let mut payload = json!({
                "orderId": order,
                "userId": "drill-user",
                "items": [{"menuItemId": "menu-item-1", "quantity": 1 + roll % 3}]
            });
            if roll < 5 {
                let due = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
                payload["scheduledFor"] = json!(due.to_rfc3339());
            }
            return ("createOrder", payload);
        }
        let pick = open[(Uuid::new_v4().as_u128() % open.len() as u128) as usize];
        let (order, status) = &mut self.list[pick];
        if roll < 90 {
            *status += 1;
            (
                "updateOrderStatus",
                json!({"orderId": order, "status": STATUSES[*status]}),
            )
        } else {
            *status = STATUSES.len();
            ("cancelOrder", json!({"orderId": order, "reason": "drill"}))
        }
    }
}

/// Sends one command until it is answered 2xx (or shed, with `GiveUp`), the
/// same id every time. Returns whether it was accepted.
pub async fn send(
    clients: &Clients,
    tally: &Tally,
    tenant: &Tenant,
    command_type: &str,
    payload: Value,
    on_shed: OnShed,
) -> Option<Uuid> {
    let id = Uuid::new_v4();
    clients
        .owners
        .lock()
        .expect("owners lock")
        .insert(id, tenant.index);
    let body = json!({"id": id, "type": command_type, "payload": payload});
    let url = format!("{}/v1/commands", clients.gateway);
    let began = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        if began.elapsed() > RETRY_BUDGET {
            tally.abandoned.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let answer = clients
            .http
            .post(&url)
            .bearer_auth(&tenant.token)
            .json(&body)
            .send()
            .await;
        let response = match answer {
            Ok(response) => response,
            Err(_) => {
                tally.network_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_millis(500));
        match status {
            200 | 202 => {
                tally.accepted.fetch_add(1, Ordering::Relaxed);
                tally.ledger.lock().expect("ledger lock").push(Answered {
                    tenant: tenant.index,
                    id,
                    status,
                    attempts,
                });
                return Some(id);
            }
            429 => {
                tally.rate_limited[tenant.index].fetch_add(1, Ordering::Relaxed);
                if on_shed == OnShed::GiveUp {
                    return None;
                }
            }
            503 => {
                let problem: Value = response.json().await.unwrap_or(Value::Null);
                if problem["code"] == "overloaded" {
                    tally.overloaded[tenant.index].fetch_add(1, Ordering::Relaxed);
                    if on_shed == OnShed::GiveUp {
                        return None;
                    }
                } else {
                    tally.unavailable.fetch_add(1, Ordering::Relaxed);
                }
            }
            500..=599 => {
                tally.unavailable.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                let text = response.text().await.unwrap_or_default();
                tally
                    .refused
                    .lock()
                    .expect("refused lock")
                    .push(format!("{command_type} -> {status} {text}"));
                return None;
            }
        }
        tokio::time::sleep(retry_after.min(Duration::from_secs(2))).await;
    }
}

/// `concurrency` clients of `tenant`, each sending about
/// `rate / concurrency` commands per second, until `stop` turns true.
pub fn spawn_clients(
    clients: &Clients,
    tally: &Arc<Tally>,
    tenant: &Tenant,
    rate: f64,
    concurrency: usize,
    on_shed: OnShed,
    stop: &watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let pause = Duration::from_secs_f64(concurrency as f64 / rate);
    (0..concurrency)
        .map(|_| {
            let (clients, tally, tenant, mut stop) =
                (clients.clone(), tally.clone(), tenant.clone(), stop.clone());
            tokio::spawn(async move {
                let mut orders = Orders::default();
                while !*stop.borrow() {
                    let (kind, payload) = orders.next();
                    let started = Instant::now();
                    send(&clients, &tally, &tenant, kind, payload, on_shed).await;
                    let rest = pause.saturating_sub(started.elapsed());
                    tokio::select! {
                        _ = tokio::time::sleep(rest) => {}
                        _ = stop.changed() => {}
                    }
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_move_one_status_step_at_a_time_and_never_past_delivered() {
        let mut orders = Orders::default();
        let mut steps: HashMap<String, Vec<String>> = HashMap::new();
        for _ in 0..2_000 {
            let (kind, payload) = orders.next();
            let order = payload["orderId"].as_str().unwrap().to_owned();
            let step = match kind {
                "createOrder" => "placed".to_owned(),
                "updateOrderStatus" => payload["status"].as_str().unwrap().to_owned(),
                "cancelOrder" => "cancelled".to_owned(),
                other => panic!("unexpected command {other}"),
            };
            steps.entry(order).or_default().push(step);
        }
        for (order, steps) in steps {
            let (last, line) = steps.split_last().unwrap();
            let expected: Vec<&str> = STATUSES[..line.len()].to_vec();
            assert_eq!(line, expected.as_slice(), "order {order}");
            if last == "cancelled" {
                assert!(
                    line.len() < STATUSES.len(),
                    "a delivered order is not cancelled"
                );
            } else {
                assert_eq!(last, STATUSES[line.len()], "order {order}");
            }
        }
    }
}
