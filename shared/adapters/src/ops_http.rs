//! The operations endpoints of the services that have no HTTP API of their own
//! (pump, worker): `/healthz` (the process runs), `/readyz` (every dependency
//! the service names answers: Postgres, Temporal, the LISTEN connection) and
//! `/metrics` (the service's registry as Prometheus text).

use std::net::{SocketAddr, TcpListener};

use actix_web::{web, App, HttpResponse, HttpServer};
use kitchen_wire::Health;
use prometheus::Registry;

use crate::edge::{ApiError, Readiness};
use crate::metrics;
use crate::shutdown::Shutdown;

#[derive(Clone)]
struct OpsState {
    readiness: Readiness,
    registry: Registry,
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
    })
}

async fn readyz(state: web::Data<OpsState>) -> Result<HttpResponse, ApiError> {
    state.readiness.respond().await
}

async fn scrape(state: web::Data<OpsState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(metrics::CONTENT_TYPE)
        .body(metrics::render(&state.registry))
}

/// Binds `host:port` (0 = any free port) and returns the address and a server
/// future to spawn; it stops (gracefully) when `shutdown` fires.
pub fn serve(
    host: &str,
    port: u16,
    readiness: Readiness,
    registry: Registry,
    shutdown: &Shutdown,
) -> std::io::Result<(SocketAddr, actix_web::dev::Server)> {
    let state = OpsState {
        readiness,
        registry,
    };
    let listener = TcpListener::bind((host, port))?;
    let address = listener.local_addr()?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(scrape))
    })
    .workers(1)
    .listen(listener)?
    .disable_signals()
    .shutdown_timeout(2)
    .run();
    shutdown.stop_server(&server);
    Ok((address, server))
}
