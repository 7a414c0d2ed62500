//! Hydration: `GET /v1/snapshot` (every aggregate and the seq it is consistent
//! at) and `GET /v1/events?after=N&limit=M` (the log after N, in seq order).

use actix_web::{web, HttpResponse};
use kitchen_adapters::postgres::read_model::tenant_snapshot;
use kitchen_domain::ports::{EventStore, StoreError, MAX_READ_LIMIT};
use kitchen_domain::Seq;
use serde::Deserialize;
use serde_json::json;

use crate::auth::Authenticated;
use crate::problem::ApiError;
use crate::startup::AppState;

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::InvalidLimit(_) => {
            ApiError::bad_request("invalid_limit", Some("limit".into()), e.to_string())
        }
        StoreError::Unavailable(_) => ApiError::Unavailable(Box::new(e)),
        other => ApiError::Internal(Box::new(other)),
    }
}

#[tracing::instrument(skip_all, fields(tenant_id = %caller.tenant))]
pub(crate) async fn snapshot(
    Authenticated(caller): Authenticated,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let snapshot = tenant_snapshot(&state.pool, caller.tenant)
        .await
        .map_err(store_error)?;
    Ok(HttpResponse::Ok().json(snapshot))
}

#[derive(Debug, Deserialize)]
pub(crate) struct EventsQuery {
    after: Option<String>,
    limit: Option<String>,
}

#[tracing::instrument(skip_all, fields(tenant_id = %caller.tenant))]
pub(crate) async fn events(
    Authenticated(caller): Authenticated,
    query: web::Query<EventsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let after = match &query.after {
        None => Seq::ZERO,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .and_then(|n| Seq::new(n).ok())
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_after",
                    Some("after".into()),
                    "`after` must be a seq (an integer >= 0)",
                )
            })?,
    };
    let limit = match &query.limit {
        None => 1000,
        Some(raw) => raw.parse::<u32>().map_err(|_| {
            ApiError::bad_request(
                "invalid_limit",
                Some("limit".into()),
                format!("`limit` must be between 1 and {MAX_READ_LIMIT}"),
            )
        })?,
    };
    let events = state
        .events
        .read(caller.tenant, after, limit)
        .await
        .map_err(store_error)?;
    let next_after = events.last().map(|e| e.seq).unwrap_or(after);
    Ok(HttpResponse::Ok().json(json!({"events": events, "nextAfter": next_after})))
}
