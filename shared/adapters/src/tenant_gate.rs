//! The front door: only `active` tenants are served. Each service keeps the
//! statuses it has seen in memory, so checking a request costs no round trip:
//! the `tenants` trigger NOTIFYs every change (the new status is applied at
//! once and announced to subscribers, e.g. realtime's open sockets), the cache
//! is cleared and its tenants re-read after a LISTEN reconnect (changes may
//! have been missed meanwhile), entries expire after a TTL, and while the
//! LISTEN connection is down every check reads the table.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kitchen_domain::TenantId;
use secrecy::SecretString;
use tokio::sync::{broadcast, mpsc};

use crate::postgres::listen::{self, Heard, ListenHealth};
use crate::postgres::notify::{parse_tenant_notification, TENANTS_CHANNEL};
use crate::postgres::tenant_status::tenant_status;
use crate::postgres::{PgPool, TxError};
use crate::shutdown::Shutdown;

/// The one status that is served.
pub const ACTIVE: &str = "active";

/// Entries kept at most; past it the cache starts over (a bound on memory,
/// since every signed token names a tenant).
const MAX_ENTRIES: usize = 100_000;

/// Why a tenant is not let in.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// The tenant does not exist or its status is not `active`.
    #[error("tenant {tenant} is not active")]
    NotActive {
        tenant: TenantId,
        /// The status found (`None`: no such tenant); for logs, not for clients.
        status: Option<String>,
    },
    /// Its status could not be read.
    #[error("tenant status unavailable")]
    Unavailable(#[source] TxError),
}

/// A tenant's status changed (or was re-read after a LISTEN reconnect).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChange {
    pub tenant: TenantId,
    pub active: bool,
}

struct Entry {
    status: Option<String>,
    seen: Instant,
}

struct Inner {
    pool: PgPool,
    ttl: Duration,
    entries: Mutex<HashMap<TenantId, Entry>>,
    /// Bumped by every notification and reconnect: a read that started before
    /// one may be stale and is not cached.
    epoch: AtomicU64,
    /// Reads of the table (a test hook: the hot path must not add any).
    reads: AtomicU64,
    health: ListenHealth,
    changes: broadcast::Sender<StatusChange>,
}

/// Cheap to clone; every clone shares one cache.
#[derive(Clone)]
pub struct TenantGate {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TenantGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantGate")
            .field("ttl", &self.inner.ttl)
            .field("listening", &self.inner.health.is_up())
            .finish_non_exhaustive()
    }
}

fn is_active(status: Option<&str>) -> bool {
    status == Some(ACTIVE)
}

impl TenantGate {
    /// A gate reading statuses through `pool` (the service's own role, under
    /// RLS), caching each for at most `ttl`. Call [`TenantGate::start`] to
    /// keep it current.
    pub fn new(pool: PgPool, ttl: Duration) -> TenantGate {
        TenantGate {
            inner: Arc::new(Inner {
                pool,
                ttl,
                entries: Mutex::new(HashMap::new()),
                epoch: AtomicU64::new(0),
                reads: AtomicU64::new(0),
                health: ListenHealth::default(),
                changes: broadcast::channel(1024).0,
            }),
        }
    }

    /// Starts listening on `tenants` (as `url`'s role) until `shutdown`.
    pub fn start(&self, url: SecretString, shutdown: Shutdown) {
        let (heard_tx, mut heard_rx) = mpsc::channel(1024);
        tokio::spawn(listen::run(
            url,
            TENANTS_CHANNEL,
            heard_tx,
            shutdown,
            self.inner.health.clone(),
        ));
        let gate = self.clone();
        tokio::spawn(async move {
            while let Some(heard) = heard_rx.recv().await {
                match heard {
                    Heard::Connected => gate.reconnected().await,
                    Heard::Payload(payload) => gate.notified(&payload),
                }
            }
        });
    }

    /// Whether its LISTEN connection is up.
    pub fn health(&self) -> &ListenHealth {
        &self.inner.health
    }

    /// The readiness check `tenant_listen`: down while its LISTEN connection is.
    pub fn readiness_check(&self) -> crate::edge::Check {
        self.inner.health.check_named("tenant_listen")
    }

    /// Status changes, as they are heard.
    pub fn subscribe(&self) -> broadcast::Receiver<StatusChange> {
        self.inner.changes.subscribe()
    }

    /// How many times the table was read (cache misses).
    pub fn reads(&self) -> u64 {
        self.inner.reads.load(Ordering::Relaxed)
    }

    /// Lets `tenant` in if it is active; from the cache when it can.
    pub async fn check(&self, tenant: TenantId) -> Result<(), GateError> {
        let status = match self.cached(tenant) {
            Some(status) => status,
            None => self.read(tenant).await?,
        };
        if is_active(status.as_deref()) {
            Ok(())
        } else {
            Err(GateError::NotActive { tenant, status })
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, Entry>> {
        // A panic while holding the lock leaves a map that is still valid.
        self.inner
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn cached(&self, tenant: TenantId) -> Option<Option<String>> {
        if !self.inner.health.is_up() {
            return None;
        }
        let entries = self.entries();
        let entry = entries.get(&tenant)?;
        (entry.seen.elapsed() < self.inner.ttl).then(|| entry.status.clone())
    }

    fn store(&self, tenant: TenantId, status: Option<String>) {
        let mut entries = self.entries();
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&tenant) {
            entries.clear();
        }
        entries.insert(
            tenant,
            Entry {
                status,
                seen: Instant::now(),
            },
        );
    }

    /// Reads the table; caches the answer unless a change was heard meanwhile.
    async fn read(&self, tenant: TenantId) -> Result<Option<String>, GateError> {
        let epoch = self.inner.epoch.load(Ordering::SeqCst);
        self.inner.reads.fetch_add(1, Ordering::Relaxed);
        let status = tenant_status(&self.inner.pool, tenant)
            .await
            .map_err(GateError::Unavailable)?;
        if self.inner.epoch.load(Ordering::SeqCst) == epoch {
            self.store(tenant, status.clone());
        }
        Ok(status)
    }

    fn announce(&self, tenant: TenantId, status: Option<&str>) {
        // No subscriber is fine (the gateway has none).
        let _ = self.inner.changes.send(StatusChange {
            tenant,
            active: is_active(status),
        });
    }

    fn notified(&self, payload: &str) {
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        let Ok(note) = parse_tenant_notification(payload) else {
            tracing::warn!(%payload, "ignoring malformed tenants notification");
            return;
        };
        let Ok(tenant) = TenantId::from_uuid(note.tenant_id) else {
            return;
        };
        tracing::info!(tenant_id = %tenant, status = ?note.status, "tenant status changed");
        self.store(tenant, note.status.clone());
        self.announce(tenant, note.status.as_deref());
    }

    /// Changes may have been missed while not listening: forget everything,
    /// and re-read the tenants we knew so subscribers hear of any change.
    async fn reconnected(&self) {
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        let known: Vec<TenantId> = self.entries().drain().map(|(tenant, _)| tenant).collect();
        for tenant in known {
            match self.read(tenant).await {
                Ok(status) => self.announce(tenant, status.as_deref()),
                Err(e) => {
                    tracing::warn!(tenant_id = %tenant, cause = %e, "re-reading a tenant's status failed")
                }
            }
        }
    }
}
