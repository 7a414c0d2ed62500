//! The operations endpoints of the services that have no HTTP API of their own
//! (pump, worker): `/healthz` (the process runs), `/readyz` (Postgres answers)
//! and `/metrics` (the service's registry as Prometheus text).

use std::net::{SocketAddr, TcpListener};

use actix_web::{web, App, HttpResponse, HttpServer};
use diesel_async::RunQueryDsl;
use prometheus::Registry;

use crate::metrics;
use crate::postgres::PgPool;
use crate::shutdown::Shutdown;

#[derive(Clone)]
struct OpsState {
    pool: PgPool,
    registry: Registry,
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Whether Postgres answers a trivial query through `pool` (readiness).
pub async fn database_ready(pool: &PgPool) -> bool {
    match pool.get().await {
        Ok(mut conn) => diesel::sql_query("SELECT 1")
            .execute(&mut conn)
            .await
            .is_ok(),
        Err(_) => false,
    }
}

async fn readyz(state: web::Data<OpsState>) -> HttpResponse {
    if database_ready(&state.pool).await {
        HttpResponse::Ok().json(serde_json::json!({"status": "ready"}))
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("application/problem+json")
            .json(serde_json::json!({"type": "/problems/unavailable", "title": "Service Unavailable", "status": 503, "code": "unavailable", "detail": "database unreachable"}))
    }
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
    pool: PgPool,
    registry: Registry,
    shutdown: &Shutdown,
) -> std::io::Result<(SocketAddr, actix_web::dev::Server)> {
    let state = OpsState { pool, registry };
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
