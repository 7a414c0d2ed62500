//! Route table.

pub(crate) mod auth;
pub(crate) mod commands;
pub(crate) mod console;
pub(crate) mod health;
pub(crate) mod members;
pub(crate) mod reads;
pub(crate) mod tenants;
pub(crate) mod views;

use actix_web::{web, HttpResponse};

use kitchen_adapters::edge::ApiError;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/commands", web::post().to(commands::submit))
        .route("/v1/commands", web::get().to(commands::by_correlation))
        .route("/v1/commands/{id}", web::get().to(commands::status))
        .route("/v1/auth/token", web::post().to(auth::token))
        .route("/v1/auth/refresh", web::post().to(auth::refresh))
        .route("/v1/auth/logout", web::post().to(auth::logout))
        .route("/v1/members", web::post().to(members::add))
        .route("/v1/members/{user_id}", web::delete().to(members::remove))
        .route("/v1/me/password", web::put().to(members::change_password))
        .route("/v1/snapshot", web::get().to(reads::snapshot))
        .route("/v1/events", web::get().to(reads::events))
        // The platform API (tenant lifecycle; platform tokens only).
        .route("/v1/tenants", web::post().to(tenants::create))
        .route("/v1/tenants", web::get().to(tenants::list))
        .route("/v1/tenants/{id}", web::get().to(tenants::show))
        .route("/v1/tenants/{id}", web::patch().to(tenants::update))
        .route("/v1/tenants/{id}", web::delete().to(tenants::offboard))
        .route("/v1/tenants/{id}/cancel", web::post().to(tenants::cancel))
        .route("/v1/tenants/{id}/restore", web::post().to(tenants::restore))
        .route("/v1/tenants/{id}/export", web::get().to(tenants::export))
        .route("/v1/views/{name}", web::get().to(views::view))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics))
        .route("/openapi.json", web::get().to(health::openapi))
        .route("/console/config.json", web::get().to(console::config_json));
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
