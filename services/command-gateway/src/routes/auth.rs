//! `POST /v1/auth/token`, `/v1/auth/refresh`, `/v1/auth/logout` (see `crate::login`).

use actix_web::{web, HttpRequest, HttpResponse};
use kitchen_adapters::auth::AuthError;
use kitchen_adapters::edge::ApiError;
use kitchen_adapters::postgres::credentials::{
    find_login_user, issue_refresh_token, revoke_refresh_family, rotate_refresh_token, Rotation,
};
use kitchen_adapters::tenant_gate::GateError;
use kitchen_domain::catalog::from_json_value;
use kitchen_domain::TenantId;
use kitchen_wire::{LoginRequest, RefreshRequest, TokenResponse};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::login::{refresh_hash, refresh_tenant, Keys, Login};
use crate::routes::commands::read_body;
use crate::startup::AppState;

pub(crate) fn login_of(state: &AppState) -> Result<&Login, ApiError> {
    state.login.as_ref().ok_or_else(|| {
        ApiError::NotFound(
            "login is off: the gateway has no HS256 key (`auth.hs256_secret`)".into(),
        )
    })
}

pub(crate) async fn body<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<T, ApiError> {
    let bytes = read_body(req, payload, state.max_body_bytes).await?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request("invalid_json", None, format!("body is not valid JSON: {e}"))
    })?;
    from_json_value(&value).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            Some(e.field.clone()),
            format!("`{}`: {}", e.field, e.reason),
        )
    })
}

pub(crate) fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> ApiError {
    ApiError::Unavailable(Box::new(e))
}

fn tokens(
    login: &Login,
    tenant: TenantId,
    user: Uuid,
    role: &str,
    refresh: String,
) -> Result<HttpResponse, ApiError> {
    let access_token = login
        .access_token(tenant, user, role)
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in: login.access_ttl.as_secs(),
            refresh_token: refresh,
        }))
}

/// Logs a user of a household in.
#[utoipa::path(post, path = "/v1/auth/token", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "logged in", body = TokenResponse),
        (status = 400, description = "bad JSON or a missing field; `field` names it", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 401, description = "wrong email or password (`invalid_credentials`; the same answer for an unknown email or a household that is not active)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 404, description = "login is off (HS256 is not configured)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 413, description = "body larger than `gateway.max_body_bytes`", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 415, description = "`Content-Type` is not JSON", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 429, description = "too many failures for this email or from this address; `Retry-After`", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 503, description = "database unavailable; `Retry-After`", body = kitchen_wire::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(tenant_id))]
pub(crate) async fn token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let login = login_of(&state)?;
    let request: LoginRequest = body(&req, payload, &state).await?;
    let tenant = TenantId::from_uuid(request.tenant_id).map_err(|e| {
        ApiError::bad_request("invalid_body", Some("tenantId".into()), e.to_string())
    })?;
    tracing::Span::current().record("tenant_id", tracing::field::display(tenant));
    let keys = Keys {
        account: format!("{tenant}/{}", request.email.to_lowercase()),
        address: req
            .peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default(),
    };
    if let Err(wait) = login.throttle.check(&keys) {
        state.metrics.login("throttled");
        return Err(ApiError::TooManyRequests {
            retry_after_secs: wait.as_secs().max(1),
            detail: "too many failed logins; retry later".into(),
        });
    }
    // A household that is not active has no users to log in, as far as the
    // caller can tell.
    let user = match state.gate.check(tenant).await {
        Ok(()) => find_login_user(&state.pool, tenant, &request.email)
            .await
            .map_err(unavailable)?,
        Err(GateError::NotActive { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let passwords = login.passwords.clone();
    let phc = user.as_ref().and_then(|u| u.password_hash.clone());
    let dummy = phc.is_none();
    let password = request.password;
    // argon2 is deliberately slow: off the async threads.
    let verified = web::block(move || match phc {
        Some(phc) => passwords.verify(&password, &phc),
        None => passwords.verify_dummy(&password),
    })
    .await
    .map_err(unavailable)?;
    if dummy {
        state.metrics.dummy_verification();
    }
    let user = match (verified, user) {
        (true, Some(user)) => user,
        _ => {
            login.throttle.failed(&keys);
            state.metrics.login("failed");
            tracing::info!("login failed");
            return Err(ApiError::Unauthorized(AuthError::InvalidCredentials));
        }
    };
    login.throttle.succeeded(&keys);
    let (refresh, row) = login.refresh_token(tenant, user.id, Uuid::new_v4());
    issue_refresh_token(&state.pool, tenant, row)
        .await
        .map_err(unavailable)?;
    state.metrics.login("succeeded");
    tracing::info!(user_id = %user.id, role = %user.role, "logged in");
    tokens(login, tenant, user.id, &user.role, refresh)
}

/// Trades a refresh token for a new pair (the old one is used up).
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "a new access and refresh token", body = TokenResponse),
        (status = 400, description = "bad JSON or a missing field", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 401, description = "unknown, expired or revoked (`invalid_refresh_token`), or already used: every token of that login is now revoked (`refresh_token_reused`)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 403, description = "the household is not active (`tenant_not_active`)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 404, description = "login is off (HS256 is not configured)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 413, description = "body larger than `gateway.max_body_bytes`", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 415, description = "`Content-Type` is not JSON", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 503, description = "database unavailable; `Retry-After`", body = kitchen_wire::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(tenant_id))]
pub(crate) async fn refresh(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let login = login_of(&state)?;
    let request: RefreshRequest = body(&req, payload, &state).await?;
    let tenant = refresh_tenant(&request.refresh_token)
        .ok_or(ApiError::Unauthorized(AuthError::InvalidRefreshToken))?;
    tracing::Span::current().record("tenant_id", tracing::field::display(tenant));
    state.gate.check(tenant).await?;
    // The family and user are the presented token's (filled in by the rotation).
    let (refresh, next) = login.refresh_token(tenant, Uuid::nil(), Uuid::nil());
    let rotation = rotate_refresh_token(
        &state.pool,
        tenant,
        refresh_hash(&request.refresh_token),
        next,
    )
    .await
    .map_err(unavailable)?;
    match rotation {
        Rotation::Rotated { user } => tokens(login, tenant, user.id, &user.role, refresh),
        Rotation::ReuseDetected => {
            tracing::warn!("a used refresh token was presented again; its family is revoked");
            Err(ApiError::Unauthorized(AuthError::RefreshTokenReused))
        }
        Rotation::Invalid => Err(ApiError::Unauthorized(AuthError::InvalidRefreshToken)),
    }
}

/// Ends a login: its refresh tokens are revoked (access tokens run out).
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "logged out (also when the token was unknown)"),
        (status = 400, description = "bad JSON or a missing field", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 404, description = "login is off (HS256 is not configured)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 413, description = "body larger than `gateway.max_body_bytes`", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 415, description = "`Content-Type` is not JSON", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 503, description = "database unavailable; `Retry-After`", body = kitchen_wire::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(tenant_id))]
pub(crate) async fn logout(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    login_of(&state)?;
    let request: RefreshRequest = body(&req, payload, &state).await?;
    if let Some(tenant) = refresh_tenant(&request.refresh_token) {
        tracing::Span::current().record("tenant_id", tracing::field::display(tenant));
        revoke_refresh_family(&state.pool, tenant, refresh_hash(&request.refresh_token))
            .await
            .map_err(unavailable)?;
    }
    Ok(HttpResponse::NoContent().finish())
}
