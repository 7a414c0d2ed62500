//! Route table.

mod commands;
mod health;

use actix_web::{web, HttpResponse};

use crate::problem::ApiError;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/commands", web::post().to(commands::submit))
        .route("/v1/commands/{id}", web::get().to(commands::status))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics));
}

/// Path segments that fail to parse become problem+json too.
pub(crate) fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|err, _| ApiError::bad_request("invalid_path", None, err.to_string()).into())
}

pub(crate) async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("no such route".into()))
}
