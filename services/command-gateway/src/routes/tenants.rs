//! The platform API (DESIGN.md section 7), for platform tokens only. Like any
//! command, each write is a row in `commands` (under the target tenant's id)
//! that the pump routes to the tenant workflows; the gateway never calls
//! Temporal. The admin's password is hashed (argon2id) here, before anything
//! is stored, and kept apart from the command's payload.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use kitchen_adapters::auth::{bearer_token, password, PlatformAuthError, PlatformCaller};
use kitchen_adapters::edge::{ApiError, Query};
use kitchen_adapters::postgres::platform::{Admission, PlatformError, TenantRow};
use kitchen_domain::catalog::{from_json_value, PayloadError};
use kitchen_domain::platform::{self, CancelPayload, ProvisionPayload, UpdatePayload};
use kitchen_domain::queue::{CommandRecord, Enqueued, NewCommand};
use kitchen_domain::{AggregateId, CommandId, CorrelationId, TenantId};
use kitchen_wire::{
    CancelTenant, CreateTenant, ProvisioningView, StepErrorView, TenantAccepted, TenantView,
    TenantsPage, UpdateTenant,
};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::commands::read_body;
use crate::auth::state_and_header;
use crate::startup::AppState;

/// A caller proven to be a platform administrator (see
/// `kitchen_adapters::auth::platform`): tenant tokens get 403.
#[derive(Debug)]
pub(crate) struct PlatformAdmin(pub(crate) PlatformCaller);

impl FromRequest for PlatformAdmin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let (state, header) = state_and_header(req);
        Box::pin(async move {
            let header = header?;
            let token = bearer_token(header.as_deref()).map_err(ApiError::Unauthorized)?;
            match state.verifier.verify_platform(token).await {
                Ok(caller) => Ok(PlatformAdmin(caller)),
                Err(PlatformAuthError::Unauthorized(e)) => {
                    state.metrics.refused(e.code());
                    Err(ApiError::Unauthorized(e))
                }
                Err(PlatformAuthError::Forbidden(detail)) => {
                    state.metrics.refused("forbidden");
                    Err(ApiError::Forbidden {
                        code: "forbidden",
                        detail: detail.to_owned(),
                    })
                }
            }
        })
    }
}

fn invalid(e: PayloadError, prefix: &str) -> ApiError {
    let field = match (prefix.is_empty(), e.field.is_empty()) {
        (true, _) => e.field.clone(),
        (false, true) => prefix.to_owned(),
        (false, false) => format!("{prefix}.{}", e.field),
    };
    ApiError::bad_request(
        "invalid_body",
        Some(field.clone()),
        format!("`{field}`: {}", e.reason),
    )
}

fn platform_error(e: PlatformError) -> ApiError {
    match e {
        PlatformError::NotFound(tenant) => ApiError::NotFound(format!("tenant {tenant} not found")),
        PlatformError::WrongState { code, detail } => ApiError::Conflict { code, detail },
        PlatformError::IdempotencyConflict(id) => ApiError::Conflict {
            code: "idempotency_conflict",
            detail: format!("command {id} already exists with a different request"),
        },
        PlatformError::Unavailable(e) => ApiError::Unavailable(e),
    }
}

fn tenant_path(raw: &str) -> Result<TenantId, ApiError> {
    raw.parse().map_err(|e: kitchen_domain::IdError| {
        ApiError::bad_request("invalid_tenant_id", Some("id".into()), e.to_string())
    })
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request("invalid_json", None, format!("body is not valid JSON: {e}"))
    })?;
    from_json_value(&value).map_err(|e| invalid(e, ""))
}

/// Shortest and longest admin password.
const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 8..=200;

/// A platform command of `caller` for `tenant`.
fn platform_command(
    caller: &PlatformCaller,
    id: CommandId,
    tenant: TenantId,
    command_type: &str,
    payload: Value,
) -> NewCommand {
    NewCommand {
        id,
        tenant_id: tenant,
        command_type: command_type.to_owned(),
        payload,
        aggregate_id: AggregateId::from_uuid(tenant.as_uuid()).expect("a tenant id is not nil"),
        user_id: caller.subject.clone(),
        correlation_id: CorrelationId::new_random(),
        metadata: json!({}),
    }
}

fn accepted(enqueued: Enqueued) -> HttpResponse {
    let (mut response, record): (_, CommandRecord) = match enqueued {
        Enqueued::Created(record) => (HttpResponse::Accepted(), record),
        Enqueued::Existing(record) => (HttpResponse::Ok(), record),
    };
    response
        .insert_header((
            header::LOCATION,
            format!("/v1/tenants/{}", record.tenant_id),
        ))
        .json(TenantAccepted {
            tenant_id: record.tenant_id.as_uuid(),
            command_id: record.id.as_uuid(),
            status: record.status.as_str().to_owned(),
        })
}

/// Starts provisioning a household (the `TenantProvisioning` saga).
#[utoipa::path(post, path = "/v1/tenants", tag = "platform", security(("bearer" = [])),
    request_body = CreateTenant,
    responses(
        (status = 202, description = "accepted; the saga starts. `Location` is the tenant's URL", body = TenantAccepted),
        (status = 200, description = "the same request again (the password is not compared): the stored command", body = TenantAccepted),
        (status = 400, description = "bad JSON or field (`field` names it: `name`, `admin.email`, `admin.password`...); nothing is started", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 401, description = "token missing or not acceptable", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 403, description = "not a platform token (`forbidden`)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 409, description = "the tenant exists (`tenant_exists`) or the key is taken by another request", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 413, description = "body too large", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 415, description = "`Content-Type` is not JSON", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 503, description = "database unavailable; `Retry-After`", body = kitchen_wire::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(tenant_id, command_id))]
pub(crate) async fn create(
    PlatformAdmin(caller): PlatformAdmin,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, state.max_body_bytes).await?;
    let request: CreateTenant = parse_json(&body)?;
    let stored = ProvisionPayload {
        name: request.name,
        admin: platform::AdminSpec {
            email: request.admin.email,
            display_name: request.admin.display_name,
        },
        plan: request.plan,
        menu: request
            .menu
            .map(|items| from_json_value(&Value::Array(items)))
            .transpose()
            .map_err(|e| invalid(e, "menu"))?,
    };
    stored.validate().map_err(|e| invalid(e, ""))?;
    if !PASSWORD_CHARS.contains(&request.admin.password.chars().count()) {
        return Err(ApiError::bad_request(
            "invalid_body",
            Some("admin.password".into()),
            format!(
                "`admin.password` must be {} to {} characters",
                PASSWORD_CHARS.start(),
                PASSWORD_CHARS.end()
            ),
        ));
    }
    let key = match request.id {
        Some(id) => CommandId::from_uuid(id).map_err(|e| {
            ApiError::bad_request("invalid_body", Some("id".into()), format!("`id`: {e}"))
        })?,
        None => CommandId::new_random(),
    };
    let tenant = match request.tenant_id {
        Some(id) => TenantId::from_uuid(id).map_err(|e| {
            ApiError::bad_request(
                "invalid_body",
                Some("tenantId".into()),
                format!("`tenantId`: {e}"),
            )
        })?,
        None => platform::tenant_id_from_key(key),
    };
    let span = tracing::Span::current();
    span.record("tenant_id", tracing::field::display(tenant));
    span.record("command_id", tracing::field::display(key));
    // argon2id is deliberately slow: off the async workers.
    let plain = request.admin.password;
    let hash = web::block(move || password::hash_password(&plain))
        .await
        .map_err(|e| ApiError::Internal(Box::new(e)))?
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    let payload = serde_json::to_value(&stored).expect("a payload serialises");
    let command = platform_command(&caller, key, tenant, platform::PROVISION, payload);
    let enqueued = state
        .platform
        .submit(command, Admission::NewTenant, Some(hash))
        .await
        .map_err(platform_error)?;
    if matches!(enqueued, Enqueued::Created(_)) {
        tracing::info!("tenant provisioning accepted");
    }
    Ok(accepted(enqueued))
}

fn tenant_view(row: TenantRow) -> TenantView {
    let progress = row.progress();
    TenantView {
        tenant_id: row.tenant_id,
        name: row.name,
        status: row.status,
        plan: row.plan,
        provisioning: ProvisioningView {
            percent: progress.percent,
            step: progress.step,
            steps: progress.steps,
            completed: progress.completed,
            error: progress.error.map(|e| StepErrorView {
                step: e.step,
                reason: e.reason,
            }),
        },
        step: row.step,
        reason: row.reason,
        created_at: row.created_at,
    }
}

/// One tenant, with the progress of its provisioning.
#[utoipa::path(get, path = "/v1/tenants/{id}", tag = "platform", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the tenant id")),
    responses(
        (status = 200, description = "the tenant", body = TenantView),
        (status = 400, description = "`id` is not a tenant id", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 401, description = "token missing or not acceptable", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 403, description = "not a platform token", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such tenant", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 503, description = "database unavailable; `Retry-After`", body = kitchen_wire::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(tenant_id = %id))]
pub(crate) async fn show(
    PlatformAdmin(_caller): PlatformAdmin,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant_path(&id)?;
    match state
        .platform
        .tenant(tenant)
        .await
        .map_err(platform_error)?
    {
        Some(row) => Ok(HttpResponse::Ok().json(tenant_view(row))),
        None => Err(ApiError::NotFound(format!("tenant {tenant} not found"))),
    }
}

/// `GET /v1/tenants` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub(crate) struct ListQuery {
    /// The last tenant id of the previous page (its `nextAfter`).
    after: Option<Uuid>,
    /// Page size, 1 to 1000 (default 100).
    limit: Option<u32>,
}

/// Every tenant, by id, in pages.
#[utoipa::path(get, path = "/v1/tenants", tag = "platform", security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "a page of tenants", body = TenantsPage),
        (status = 400, description = "a parameter is invalid", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 401, description = "token missing or not acceptable", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 403, description = "not a platform token", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 503, description = "database unavailable; `Retry-After`", body = kitchen_wire::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub(crate) async fn list(
    PlatformAdmin(_caller): PlatformAdmin,
    Query(query): Query<ListQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::bad_request(
            "invalid_query",
            Some("limit".into()),
            "`limit` must be between 1 and 1000",
        ));
    }
    let rows = state
        .platform
        .list(query.after, limit)
        .await
        .map_err(platform_error)?;
    let next_after = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| r.tenant_id))
        .flatten();
    Ok(HttpResponse::Ok().json(TenantsPage {
        tenants: rows.into_iter().map(tenant_view).collect(),
        next_after,
    }))
}

/// Stores a platform command about an existing tenant in one of `allowed`.
async fn signal_command(
    caller: &PlatformCaller,
    state: &AppState,
    tenant: TenantId,
    command_type: &str,
    payload: Value,
    allowed: &'static [&'static str],
) -> Result<HttpResponse, ApiError> {
    let command = platform_command(
        caller,
        CommandId::new_random(),
        tenant,
        command_type,
        payload,
    );
    let enqueued = state
        .platform
        .submit(command, Admission::InStatus(allowed), None)
        .await
        .map_err(platform_error)?;
    tracing::info!(command_type, "platform command accepted");
    Ok(accepted(enqueued))
}

/// Cancels a provisioning saga: its steps are compensated in reverse and a
/// `cancelled` tombstone remains.
#[utoipa::path(post, path = "/v1/tenants/{id}/cancel", tag = "platform", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the tenant id")),
    request_body = CancelTenant,
    responses(
        (status = 202, description = "accepted", body = TenantAccepted),
        (status = 400, description = "bad body; `field` names it", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 401, description = "token missing or not acceptable", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 403, description = "not a platform token", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such tenant", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 409, description = "the tenant is not provisioning (`wrong_tenant_state`)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 413, description = "body too large", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 415, description = "`Content-Type` is not JSON", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 503, description = "database unavailable; `Retry-After`", body = kitchen_wire::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(tenant_id = %id))]
pub(crate) async fn cancel(
    PlatformAdmin(caller): PlatformAdmin,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant_path(&id)?;
    let body = read_body(&req, payload, state.max_body_bytes).await?;
    let request: CancelTenant = parse_json(&body)?;
    let payload = serde_json::to_value(&request).expect("serialises");
    CancelPayload::parse(&payload).map_err(|e| invalid(e, ""))?;
    signal_command(
        &caller,
        &state,
        tenant,
        platform::CANCEL,
        payload,
        &["provisioning"],
    )
    .await
}

/// Renames a tenant or changes its plan: applied by the saga before its next
/// step, or directly once the tenant is active.
#[utoipa::path(patch, path = "/v1/tenants/{id}", tag = "platform", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the tenant id")),
    request_body = UpdateTenant,
    responses(
        (status = 202, description = "accepted", body = TenantAccepted),
        (status = 400, description = "bad body; `field` names it", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 401, description = "token missing or not acceptable", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 403, description = "not a platform token", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such tenant", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 409, description = "the tenant is neither provisioning nor active (`wrong_tenant_state`)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 413, description = "body too large", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 415, description = "`Content-Type` is not JSON", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 503, description = "database unavailable; `Retry-After`", body = kitchen_wire::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(tenant_id = %id))]
pub(crate) async fn update(
    PlatformAdmin(caller): PlatformAdmin,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant_path(&id)?;
    let body = read_body(&req, payload, state.max_body_bytes).await?;
    let request: UpdateTenant = parse_json(&body)?;
    let payload = serde_json::to_value(&request).expect("serialises");
    UpdatePayload::parse(&payload).map_err(|e| invalid(e, ""))?;
    signal_command(
        &caller,
        &state,
        tenant,
        platform::UPDATE,
        payload,
        &["provisioning", "active"],
    )
    .await
}

/// Offboards an active tenant: disabled at once, exported, erased after the
/// grace period (`[platform] offboard_grace_secs`) unless restored.
#[utoipa::path(delete, path = "/v1/tenants/{id}", tag = "platform", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the tenant id")),
    responses(
        (status = 202, description = "accepted", body = TenantAccepted),
        (status = 400, description = "`id` is not a tenant id", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 401, description = "token missing or not acceptable", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 403, description = "not a platform token", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such tenant", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 409, description = "the tenant is not active (`wrong_tenant_state`)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 503, description = "database unavailable; `Retry-After`", body = kitchen_wire::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(tenant_id = %id))]
pub(crate) async fn offboard(
    PlatformAdmin(caller): PlatformAdmin,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant_path(&id)?;
    signal_command(
        &caller,
        &state,
        tenant,
        platform::OFFBOARD,
        json!({}),
        &["active"],
    )
    .await
}

/// Restores a tenant in its offboarding grace period (active again, export removed).
#[utoipa::path(post, path = "/v1/tenants/{id}/restore", tag = "platform", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the tenant id")),
    responses(
        (status = 202, description = "accepted", body = TenantAccepted),
        (status = 400, description = "`id` is not a tenant id", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 401, description = "token missing or not acceptable", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 403, description = "not a platform token", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such tenant", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 409, description = "the tenant is not disabled (`wrong_tenant_state`)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 503, description = "database unavailable; `Retry-After`", body = kitchen_wire::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(tenant_id = %id))]
pub(crate) async fn restore(
    PlatformAdmin(caller): PlatformAdmin,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant_path(&id)?;
    signal_command(
        &caller,
        &state,
        tenant,
        platform::RESTORE,
        json!({}),
        &["disabled"],
    )
    .await
}

/// The export of an offboarded tenant (its events in seq order, then its
/// current state) as JSON lines, until it is erased.
#[utoipa::path(get, path = "/v1/tenants/{id}/export", tag = "platform", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the tenant id")),
    responses(
        (status = 200, description = "`application/x-ndjson`: one JSON object per line", body = String, content_type = "application/x-ndjson"),
        (status = 400, description = "`id` is not a tenant id", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 401, description = "token missing or not acceptable", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 403, description = "not a platform token", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 404, description = "no export (not offboarded, not exported yet, or erased)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 503, description = "database unavailable; `Retry-After`", body = kitchen_wire::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(tenant_id = %id))]
pub(crate) async fn export(
    PlatformAdmin(_caller): PlatformAdmin,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant_path(&id)?;
    let lines = state
        .platform
        .export(tenant)
        .await
        .map_err(platform_error)?;
    if lines.is_empty() {
        return Err(ApiError::NotFound(format!("tenant {tenant} has no export")));
    }
    let mut body = String::new();
    for line in lines {
        body.push_str(&line.to_string());
        body.push('\n');
    }
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .body(body))
}
