//! `/readyz`: ready only when every dependency the service needs answers
//! (Postgres for all; Temporal for pump and worker; the LISTEN connection for
//! pump and realtime). A 503 names what is down, so an operator knows where
//! to look.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpResponse;
use diesel_async::RunQueryDsl;
use kitchen_wire::Health;

use super::ApiError;
use crate::postgres::PgPool;

/// A probe: `Ok` when the dependency answers, else why not.
pub type CheckFn =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// One named dependency check.
#[derive(Clone)]
pub struct Check {
    name: &'static str,
    probe: CheckFn,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check").field("name", &self.name).finish()
    }
}

/// How long one probe may take before it counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

impl Check {
    pub fn new<F, Fut>(name: &'static str, probe: F) -> Check
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Check {
            name,
            probe: Arc::new(move || Box::pin(probe())),
        }
    }

    /// Postgres answers a trivial query through `pool`.
    pub fn postgres(pool: PgPool) -> Check {
        Check::new("postgres", move || {
            let pool = pool.clone();
            async move {
                let mut conn = pool.get().await.map_err(|e| e.to_string())?;
                diesel::sql_query("SELECT 1")
                    .execute(&mut conn)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        })
    }
}

/// The checks of one service.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    checks: Vec<Check>,
}

impl Readiness {
    pub fn new(checks: Vec<Check>) -> Readiness {
        Readiness { checks }
    }

    /// Runs every check at once; the names and reasons of those that failed.
    pub async fn failures(&self) -> Vec<(&'static str, String)> {
        let probes = self.checks.iter().map(|check| async move {
            match tokio::time::timeout(PROBE_TIMEOUT, (check.probe)()).await {
                Ok(Ok(())) => None,
                Ok(Err(reason)) => Some((check.name, reason)),
                Err(_) => Some((check.name, format!("no answer in {PROBE_TIMEOUT:?}"))),
            }
        });
        futures_util::future::join_all(probes)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// 200 `{"status":"ready"}`, or 503 problem+json naming what is down (the
    /// reasons, which may name hosts, go to the log only).
    pub async fn respond(&self) -> Result<HttpResponse, ApiError> {
        let failures = self.failures().await;
        for (name, reason) in &failures {
            tracing::warn!(check = name, cause = %reason, "not ready");
        }
        if failures.is_empty() {
            Ok(HttpResponse::Ok().json(Health {
                status: "ready".into(),
            }))
        } else {
            let names: Vec<&str> = failures.iter().map(|(name, _)| *name).collect();
            Err(ApiError::NotReady(names.join(", ")))
        }
    }
}

/// `GET /healthz`: 200 `{"status":"ok"}` while the process runs (liveness
/// asks no dependency, so a database outage does not get a service restarted).
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
    })
}
