//! `GET /v1/views/{name}[?key=]`: a read model of the caller's tenant and the
//! seq it reflects. Which views exist is the domain's registry; nothing here
//! knows one view from another.

use actix_web::{web, HttpResponse};
use kitchen_adapters::edge::{ApiError, Query};
use kitchen_adapters::postgres::views::{read_view, ViewReadError};
use kitchen_domain::projection::{projection, PROJECTIONS};
use kitchen_wire::ViewAtSeq;
use serde::Deserialize;

use super::reads::store_error;
use crate::auth::Authenticated;
use crate::startup::AppState;

/// `GET /v1/views/{name}` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ViewQuery {
    /// Only this row of the view (an order id, a menu item id).
    key: Option<String>,
}

fn unknown_view(name: &str) -> ApiError {
    let known: Vec<&str> = PROJECTIONS.iter().map(|p| p.name).collect();
    let name: String = name.chars().take(64).collect();
    ApiError::NotFound(format!(
        "no view named {name:?}; views: {}",
        known.join(", ")
    ))
}

/// A read model of the tenant (see `ViewAtSeq` for the views and their shapes).
#[utoipa::path(get, path = "/v1/views/{name}", tag = "reads", security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "`orderBoard`, `kitchenQueue` or `menu`"),
        ViewQuery,
    ),
    responses(
        (status = 200, description = "the view and the seq it reflects", body = ViewAtSeq),
        (status = 400, description = "a query parameter is invalid", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 401, description = "token missing or not acceptable", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 403, description = "the token's tenant does not exist or is not active (`tenant_not_active`)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 404, description = "no view of that name", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 500, description = "stored data this release cannot read", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 503, description = "database unavailable, or the view is still being built for this tenant; `Retry-After`", body = kitchen_wire::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(tenant_id = %caller.tenant, view = %name))]
pub(crate) async fn view(
    Authenticated(caller): Authenticated,
    name: web::Path<String>,
    Query(query): Query<ViewQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let projection = projection(&name).ok_or_else(|| unknown_view(&name))?;
    let read = read_view(&state.pool, caller.tenant, projection, query.key.as_deref())
        .await
        .map_err(|e| match e {
            ViewReadError::NotBuilt(_) => ApiError::Unavailable(Box::new(e)),
            ViewReadError::Store(e) => store_error(e),
        })?;
    Ok(HttpResponse::Ok().json(ViewAtSeq {
        seq: read.seq.get(),
        view: read.view,
    }))
}
