//! Every error leaves a service as `application/problem+json` (RFC 9457), with
//! a stable `code`; 5xx bodies never carry internals: the whole cause chain
//! goes to the log instead.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use kitchen_wire::Problem;

use crate::auth::AuthError;

/// An error answer. Each variant documents its status and how a client reacts.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401 (503 when the signing keys cannot be fetched): get a valid token.
    #[error("{0}")]
    Unauthorized(AuthError),
    /// 400: the request is malformed; `field` names what is wrong. Fix it.
    #[error("{detail}")]
    BadRequest {
        code: &'static str,
        field: Option<String>,
        detail: String,
    },
    /// 413: the body is larger than the limit.
    #[error("request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// 415: the body is not JSON.
    #[error("request body must be application/json")]
    UnsupportedMediaType,
    /// 403 `tenant_not_active`: the token's tenant does not exist or is not
    /// `active` (being provisioned, disabled, ...). Retrying will not help
    /// until the tenant is active again.
    #[error("the tenant is not active")]
    TenantNotActive,
    /// 429 + `Retry-After`: too many failed attempts; wait that many seconds.
    #[error("{detail}")]
    TooManyRequests {
        retry_after_secs: u64,
        detail: String,
    },
    /// 429 + `Retry-After`: a per-tenant quota is used up (`code`:
    /// `tenant_rate_limited`, `tenant_backlog_full`, `tenant_socket_limit`);
    /// nothing was written. Retry after that many seconds.
    #[error("{detail}")]
    QuotaExceeded {
        code: &'static str,
        retry_after_secs: u64,
        detail: String,
    },
    /// 503 `overloaded` + `Retry-After`: the platform is past what it can
    /// finish, so the command was not accepted (nothing written). Retry later.
    #[error("{detail}")]
    Overloaded {
        retry_after_secs: u64,
        detail: String,
    },
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 403: the caller is known but may not do this: its role may not
    /// (`forbidden`), or it is the wrong kind of token (a tenant token on the
    /// platform API, say). Another token is needed.
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: String },
    /// 409: the request conflicts with what is stored (an idempotency key
    /// reused with another body, say). Do not retry as is.
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// 503 + `Retry-After`: a dependency is down; retry later.
    #[error("service temporarily unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// 503 + `Retry-After` from `/readyz`: names the dependencies that are down.
    #[error("not ready: {0}")]
    NotReady(String),
    /// 500: stored data this release cannot read (an event of a future schema
    /// version, a corrupt row). Retrying will not help; the body says no more.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<crate::tenant_gate::GateError> for ApiError {
    fn from(e: crate::tenant_gate::GateError) -> Self {
        match e {
            crate::tenant_gate::GateError::NotActive { .. } => ApiError::TenantNotActive,
            crate::tenant_gate::GateError::Unavailable(cause) => {
                ApiError::Unavailable(Box::new(cause))
            }
        }
    }
}

impl ApiError {
    /// 403 `forbidden`: the caller's role may not do this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        ApiError::Forbidden {
            code: "forbidden",
            detail: detail.into(),
        }
    }

    pub fn bad_request(
        code: &'static str,
        field: Option<String>,
        detail: impl Into<String>,
    ) -> Self {
        ApiError::BadRequest {
            code,
            field,
            detail: detail.into(),
        }
    }

    /// Stable code, also the metrics label of refusals.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(e) => e.code(),
            ApiError::BadRequest { code, .. } => code,
            ApiError::TooLarge { .. } => "body_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::TenantNotActive => "tenant_not_active",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::QuotaExceeded { code, .. } => code,
            ApiError::Overloaded { .. } => "overloaded",
            ApiError::NotFound(_) => "not_found",
            ApiError::Forbidden { code, .. } => code,
            ApiError::Conflict { code, .. } => code,
            ApiError::Unavailable(_) => "unavailable",
            ApiError::NotReady(_) => "not_ready",
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// The problem document of this error.
    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        Problem {
            problem_type: format!("/problems/{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.to_string(),
            code: self.code().to_owned(),
            field: match self {
                ApiError::BadRequest { field, .. } => field.clone(),
                _ => None,
            },
        }
    }
}

/// Every cause below `error`, outermost first, joined for one log field.
fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut causes = Vec::new();
    let mut next = error.source();
    while let Some(cause) = next {
        causes.push(cause.to_string());
        next = cause.source();
    }
    causes.join(": ")
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(AuthError::KeysUnavailable) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TenantNotActive => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests { .. } | ApiError::QuotaExceeded { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Unavailable(_) | ApiError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        // Shedding is the designed answer to load, counted in metrics: logging
        // each one as an error would add load exactly when there is too much.
        if status.is_server_error() && !matches!(self, ApiError::Overloaded { .. }) {
            tracing::error!(code = self.code(), cause = %cause_chain(self), "request failed");
        }
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        match self {
            ApiError::Unauthorized(e) => {
                // A quoted-string may not hold quotes, backslashes or line breaks.
                let description = e.to_string().replace(['\r', '\n', '"', '\\'], " ");
                let challenge =
                    format!("Bearer error=\"invalid_token\", error_description=\"{description}\"");
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    response.insert_header((header::WWW_AUTHENTICATE, value));
                }
            }
            ApiError::Unavailable(_) | ApiError::NotReady(_) => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            ApiError::TooManyRequests {
                retry_after_secs, ..
            }
            | ApiError::QuotaExceeded {
                retry_after_secs, ..
            }
            | ApiError::Overloaded {
                retry_after_secs, ..
            } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            _ => {}
        }
        response.body(serde_json::to_string(&self.problem()).expect("a problem serialises"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Inner);
    #[derive(Debug, thiserror::Error)]
    #[error("inner")]
    struct Inner;

    #[test]
    fn the_whole_cause_chain_is_logged_and_none_of_it_answered() {
        let error = ApiError::Internal(Box::new(Outer(Inner)));
        assert_eq!(cause_chain(&error), "outer: inner");
        let problem = error.problem();
        assert_eq!(
            (problem.status, problem.detail.as_str()),
            (500, "internal error")
        );
    }

    #[test]
    fn a_missing_key_set_is_503_and_any_other_auth_failure_401() {
        assert_eq!(
            ApiError::Unauthorized(AuthError::KeysUnavailable).status_code(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            ApiError::Unauthorized(AuthError::Expired).status_code(),
            StatusCode::UNAUTHORIZED
        );
    }
}
