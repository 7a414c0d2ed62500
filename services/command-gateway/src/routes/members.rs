//! `POST /v1/members`, `DELETE /v1/members/{userId}` (the household's admin)
//! and `PUT /v1/me/password` (any user, their own). Users are not event
//! sourced: these write `users` directly, under RLS, with the caller's token.

use actix_web::{web, HttpRequest, HttpResponse};
use kitchen_adapters::auth::{AuthError, Caller};
use kitchen_adapters::edge::ApiError;
use kitchen_adapters::postgres::credentials::{
    add_user, find_user, remove_user, set_password, AddUserError, NewUser,
};
use kitchen_domain::Role;
use kitchen_wire::{AddMember, ChangePassword, MemberView};
use uuid::Uuid;

use crate::auth::Authenticated;
use crate::routes::auth::{body, login_of, unavailable};
use crate::startup::AppState;

/// Shortest password accepted.
const MIN_PASSWORD: usize = 8;
/// Longest password accepted (argon2 takes any, but a bound keeps work bounded).
const MAX_PASSWORD: usize = 1024;

fn require_admin(caller: &Caller, what: &str) -> Result<(), ApiError> {
    if Role::from_claim(caller.role.as_deref()) == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "only the household's admin may {what}"
        )))
    }
}

/// The caller's user id: login tokens carry it as `sub`.
fn caller_user(caller: &Caller) -> Result<Uuid, ApiError> {
    caller
        .subject
        .as_deref()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            ApiError::forbidden("this token is not a household user's (no user id in `sub`)")
        })
}

fn check_password(field: &'static str, password: &str) -> Result<(), ApiError> {
    let length = password.chars().count();
    if (MIN_PASSWORD..=MAX_PASSWORD).contains(&length) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid_body",
            Some(field.into()),
            format!("`{field}` must be {MIN_PASSWORD} to {MAX_PASSWORD} characters"),
        ))
    }
}

fn check_member(request: &AddMember) -> Result<Role, ApiError> {
    let email = request.email.trim();
    let (local, domain) = email.split_once('@').unwrap_or_default();
    if local.is_empty()
        || !domain.contains('.')
        || email.len() > 254
        || email.contains(char::is_whitespace)
    {
        return Err(ApiError::bad_request(
            "invalid_body",
            Some("email".into()),
            "`email` is not an email address",
        ));
    }
    let name = request.display_name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::bad_request(
            "invalid_body",
            Some("displayName".into()),
            "`displayName` must be 1 to 200 characters",
        ));
    }
    check_password("password", &request.password)?;
    match request.role.as_deref() {
        None | Some("member") => Ok(Role::Member),
        Some("admin") => Ok(Role::Admin),
        Some(_) => Err(ApiError::bad_request(
            "invalid_body",
            Some("role".into()),
            "`role` must be `member` or `admin`",
        )),
    }
}

/// Adds a user to the caller's household (admin only).
#[utoipa::path(post, path = "/v1/members", tag = "auth", security(("bearer" = [])),
    request_body = AddMember,
    responses(
        (status = 201, description = "added", body = MemberView),
        (status = 400, description = "a field is invalid; `field` names it", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 401, description = "token missing or not acceptable", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 403, description = "not the household's admin (`forbidden`), or the household is not active (`tenant_not_active`)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 404, description = "login is off (HS256 is not configured)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 409, description = "a user with this email exists (`email_taken`)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 503, description = "database unavailable; `Retry-After`", body = kitchen_wire::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(tenant_id = %caller.tenant, user_id))]
pub(crate) async fn add(
    Authenticated(caller): Authenticated,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let login = login_of(&state)?;
    require_admin(&caller, "add members")?;
    let request: AddMember = body(&req, payload, &state).await?;
    let role = check_member(&request)?;
    let passwords = login.passwords.clone();
    let password = request.password.clone();
    let password_hash = web::block(move || passwords.hash(&password))
        .await
        .map_err(unavailable)?
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    let user = NewUser {
        id: Uuid::new_v4(),
        email: request.email.trim().to_owned(),
        display_name: request.display_name.trim().to_owned(),
        role: role.as_str().to_owned(),
        password_hash,
    };
    tracing::Span::current().record("user_id", tracing::field::display(user.id));
    let view = MemberView {
        user_id: user.id,
        email: user.email.clone(),
        display_name: user.display_name.clone(),
        role: user.role.clone(),
    };
    match add_user(&state.pool, caller.tenant, user).await {
        Ok(()) => {
            tracing::info!(role = %view.role, "member added");
            Ok(HttpResponse::Created().json(view))
        }
        Err(AddUserError::EmailTaken) => Err(ApiError::Conflict {
            code: "email_taken",
            detail: "a user with this email exists in the household".into(),
        }),
        Err(AddUserError::Tx(e)) => Err(unavailable(e)),
    }
}

/// Removes a user of the caller's household (admin only; not themself).
#[utoipa::path(delete, path = "/v1/members/{userId}", tag = "auth", security(("bearer" = [])),
    params(("userId" = Uuid, Path, description = "the user's id")),
    responses(
        (status = 204, description = "removed (with its refresh tokens)"),
        (status = 400, description = "`userId` is not a UUID", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 401, description = "token missing or not acceptable", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 403, description = "not the household's admin (`forbidden`), or the household is not active (`tenant_not_active`)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such user in this household, or login is off", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 409, description = "an admin cannot remove themself (`cannot_remove_self`)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 503, description = "database unavailable; `Retry-After`", body = kitchen_wire::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(tenant_id = %caller.tenant, user_id = %user))]
pub(crate) async fn remove(
    Authenticated(caller): Authenticated,
    user: web::Path<Uuid>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    login_of(&state)?;
    require_admin(&caller, "remove members")?;
    let user = user.into_inner();
    if caller_user(&caller).ok() == Some(user) {
        return Err(ApiError::Conflict {
            code: "cannot_remove_self",
            detail: "an admin cannot remove themself".into(),
        });
    }
    if remove_user(&state.pool, caller.tenant, user)
        .await
        .map_err(unavailable)?
    {
        tracing::info!("member removed");
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound(format!(
            "no user {user} in this household"
        )))
    }
}

/// Changes the caller's own password; every other session must log in again.
#[utoipa::path(put, path = "/v1/me/password", tag = "auth", security(("bearer" = [])),
    request_body = ChangePassword,
    responses(
        (status = 204, description = "changed; the user's refresh tokens are revoked"),
        (status = 400, description = "the new password is too short or too long", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 401, description = "token not acceptable, or the current password is wrong (`invalid_credentials`)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 403, description = "the token is not a household user's (`forbidden`), or the household is not active", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 404, description = "login is off (HS256 is not configured)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 503, description = "database unavailable; `Retry-After`", body = kitchen_wire::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(tenant_id = %caller.tenant, user_id))]
pub(crate) async fn change_password(
    Authenticated(caller): Authenticated,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let login = login_of(&state)?;
    let user = caller_user(&caller)?;
    tracing::Span::current().record("user_id", tracing::field::display(user));
    let request: ChangePassword = body(&req, payload, &state).await?;
    check_password("newPassword", &request.new_password)?;
    let phc = find_user(&state.pool, caller.tenant, user)
        .await
        .map_err(unavailable)?
        .and_then(|u| u.password_hash);
    let passwords = login.passwords.clone();
    let hashed = web::block(move || {
        let verified = match phc {
            Some(phc) => passwords.verify(&request.current_password, &phc),
            None => passwords.verify_dummy(&request.current_password),
        };
        verified.then(|| passwords.hash(&request.new_password))
    })
    .await
    .map_err(unavailable)?;
    let Some(hash) = hashed else {
        return Err(ApiError::Unauthorized(AuthError::InvalidCredentials));
    };
    let hash = hash.map_err(|e| ApiError::Internal(Box::new(e)))?;
    set_password(&state.pool, caller.tenant, user, hash)
        .await
        .map_err(unavailable)?;
    tracing::info!("password changed");
    Ok(HttpResponse::NoContent().finish())
}
