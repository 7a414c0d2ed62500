//! Liveness, readiness (Postgres reachable), metrics and the OpenAPI document.

use actix_web::{web, HttpResponse};
use kitchen_adapters::edge::ApiError;
use kitchen_wire::Health;

use crate::startup::AppState;

/// The process runs.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "alive", body = Health)))]
pub(crate) async fn healthz() -> HttpResponse {
    kitchen_adapters::edge::healthz().await
}

/// Every dependency answers (Postgres).
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "ready", body = Health),
        (status = 503, description = "a dependency is down; the detail names it",
         body = kitchen_wire::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.readiness.respond().await
}

pub(crate) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(kitchen_adapters::metrics::CONTENT_TYPE)
        .body(state.metrics.render())
}

/// The OpenAPI 3.1 document of this API, generated from the wire types.
pub(crate) async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(crate::openapi::document_json())
}
