//! Every error leaves the gateway as `application/problem+json` (RFC 9457), with a
//! stable `code`; 5xx bodies never carry internals (those go to the log).

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use kitchen_adapters::auth::AuthError;
use kitchen_domain::CommandId;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// 401: the token is missing or not acceptable.
    #[error("{0}")]
    Unauthorized(AuthError),
    /// 400: the request is malformed; `field` names what is wrong.
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
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 409: the command id is taken by another request.
    #[error("command {0} already exists with a different type or payload")]
    IdempotencyConflict(CommandId),
    /// 503: a dependency is down; retry later.
    #[error("service temporarily unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// 500: stored data this release cannot read (an event of a future schema
    /// version, a corrupt row). Retrying will not help; the body says no more.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub(crate) fn bad_request(
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

    /// Stable code, also the metrics label of refused commands.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(e) => e.code(),
            ApiError::BadRequest { code, .. } => code,
            ApiError::TooLarge { .. } => "body_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::NotFound(_) => "not_found",
            ApiError::IdempotencyConflict(_) => "idempotency_conflict",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(AuthError::KeysUnavailable) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::IdempotencyConflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            // The whole cause chain goes to the log, none of it to the client.
            let mut causes = Vec::new();
            let mut next = std::error::Error::source(self);
            while let Some(cause) = next {
                causes.push(cause.to_string());
                next = cause.source();
            }
            tracing::error!(code = self.code(), cause = %causes.join(": "), "request failed");
        }
        let mut body = json!({
            "type": format!("/problems/{}", self.code()),
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": self.to_string(),
            "code": self.code(),
        });
        if let ApiError::BadRequest {
            field: Some(field), ..
        } = self
        {
            body["field"] = json!(field);
        }
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        match self {
            ApiError::Unauthorized(e) => {
                let challenge =
                    format!("Bearer error=\"invalid_token\", error_description=\"{e}\"")
                        .replace(['\r', '\n'], " ");
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    response.insert_header((header::WWW_AUTHENTICATE, value));
                }
            }
            ApiError::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            _ => {}
        }
        response.body(body.to_string())
    }
}
