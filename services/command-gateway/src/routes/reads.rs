//! Hydration: `GET /v1/snapshot` (every aggregate and the seq it is consistent
//! at) and `GET /v1/events?after=N&limit=M` (the log after N, in seq order).

use actix_web::http::header::ContentType;
use actix_web::{web, HttpResponse};
use kitchen_adapters::edge::{ApiError, Query};
use kitchen_adapters::postgres::read_model::{tenant_snapshot_json, SnapshotBody};
use kitchen_domain::ports::{EventStore, StoreError};
use kitchen_domain::Seq;
use kitchen_wire::{EventView, EventsPage, SnapshotView, TenantSnapshotView};
use serde::Deserialize;

use crate::auth::Authenticated;
use crate::startup::AppState;

pub(crate) fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::InvalidLimit(_) => {
            ApiError::bad_request("invalid_query", Some("limit".into()), e.to_string())
        }
        StoreError::Unavailable(_) => ApiError::Unavailable(Box::new(e)),
        other => ApiError::Internal(Box::new(other)),
    }
}

/// Every aggregate of the tenant and the seq they are consistent at (hydration).
#[utoipa::path(get, path = "/v1/snapshot", tag = "reads", security(("bearer" = [])),
    responses(
        (status = 200, description = "the snapshot", body = TenantSnapshotView),
        (status = 401, description = "token missing or not acceptable", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 403, description = "the token's tenant does not exist or is not active (`tenant_not_active`)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 500, description = "stored data this release cannot read", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 503, description = "database unavailable; `Retry-After`", body = kitchen_wire::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(tenant_id = %caller.tenant))]
pub(crate) async fn snapshot(
    Authenticated(caller): Authenticated,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    // PostgreSQL wrote the body (snapshots at their current shape pass through
    // as stored); only a tenant with a snapshot to rebuild is encoded here.
    let snapshot = match tenant_snapshot_json(&state.pool, caller.tenant)
        .await
        .map_err(store_error)?
    {
        SnapshotBody::Json(body) => {
            return Ok(HttpResponse::Ok()
                .content_type(ContentType::json())
                .body(body))
        }
        SnapshotBody::Decoded(snapshot) => snapshot,
    };
    Ok(HttpResponse::Ok().json(TenantSnapshotView {
        seq: snapshot.seq.get(),
        epoch: snapshot.epoch,
        aggregates: snapshot.aggregates.iter().map(SnapshotView::from).collect(),
    }))
}

/// `GET /v1/events` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// The last seq the client has (0: from the start).
    after: Option<u64>,
    /// Page size, 1 to `MAX_READ_LIMIT` (default 1000).
    limit: Option<u32>,
}

/// The tenant's log after `after`, in seq order.
#[utoipa::path(get, path = "/v1/events", tag = "reads", security(("bearer" = [])),
    params(EventsQuery),
    responses(
        (status = 200, description = "a page of events", body = EventsPage),
        (status = 400, description = "`after` or `limit` invalid", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 401, description = "token missing or not acceptable", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 403, description = "the token's tenant does not exist or is not active (`tenant_not_active`)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 500, description = "an event this release cannot read (a future schema version)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 503, description = "database unavailable; `Retry-After`", body = kitchen_wire::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(tenant_id = %caller.tenant))]
pub(crate) async fn events(
    Authenticated(caller): Authenticated,
    Query(query): Query<EventsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let after = query
        .after
        .and_then(|n| i64::try_from(n).ok())
        .map(Seq::new)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_query", Some("after".into()), e.to_string()))?
        .unwrap_or(Seq::ZERO);
    let limit = query.limit.unwrap_or(1000);
    let events = state
        .events
        .read(caller.tenant, after, limit)
        .await
        .map_err(store_error)?;
    let next_after = events.last().map(|e| e.seq).unwrap_or(after).get();
    Ok(HttpResponse::Ok().json(EventsPage {
        events: events.iter().map(EventView::from).collect(),
        next_after,
    }))
}
