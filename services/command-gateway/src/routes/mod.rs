//! Route table.

pub(crate) mod commands;
pub(crate) mod health;
pub(crate) mod reads;
pub(crate) mod views;

use actix_web::{web, HttpResponse};

use kitchen_adapters::edge::ApiError;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/commands", web::post().to(commands::submit))
        .route("/v1/commands", web::get().to(commands::by_correlation))
        .route("/v1/commands/{id}", web::get().to(commands::status))
        .route("/v1/snapshot", web::get().to(reads::snapshot))
        .route("/v1/events", web::get().to(reads::events))
        .route("/v1/views/{name}", web::get().to(views::view))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics))
        .route("/openapi.json", web::get().to(health::openapi));
}

pub(crate) use kitchen_adapters::edge::query_config;

/// Path segments that fail to parse become problem+json too.
pub(crate) fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|err, _| ApiError::bad_request("invalid_path", None, err.to_string()).into())
}

pub(crate) async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("no such route".into()))
}
