//! The operations endpoints of the services that have no HTTP API of their own
//! (pump, worker): `/healthz` (the process runs), `/readyz` (every dependency
//! the service names answers: Postgres, Temporal, the LISTEN connection) and
//! `/metrics` (the service's registry as Prometheus text).

use std::time::Duration;

use actix_web::{web, App, HttpResponse};
use prometheus::Registry;

use crate::edge::{healthz, ApiError, BoundServer, Listen, Readiness};
use crate::metrics;
use crate::shutdown::Shutdown;

#[derive(Clone)]
struct OpsState {
    readiness: Readiness,
    registry: Registry,
}

async fn readyz(state: web::Data<OpsState>) -> Result<HttpResponse, ApiError> {
    state.readiness.respond().await
}

async fn scrape(state: web::Data<OpsState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(metrics::CONTENT_TYPE)
        .body(metrics::render(&state.registry))
}

/// Binds `host:port` (0 = any free port); the server stops (gracefully) when
/// `shutdown` fires.
pub fn serve(
    host: &str,
    port: u16,
    readiness: Readiness,
    registry: Registry,
    shutdown: &Shutdown,
) -> std::io::Result<BoundServer> {
    let state = OpsState {
        readiness,
        registry,
    };
    let listen = Listen {
        service: "ops",
        host,
        port,
        drain: Duration::from_secs(2),
        // Scrapes and probes: one thread is plenty.
        workers: Some(1),
    };
    BoundServer::bind(&listen, shutdown, move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(scrape))
    })
}
