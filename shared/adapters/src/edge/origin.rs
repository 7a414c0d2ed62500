//! Which browser origins may use the services (`edge.allowed_origins`): the
//! gateway answers CORS for them, realtime refuses any other at the upgrade.
//! A request without an `Origin` header is not a browser's cross-origin call
//! (curl, the CLI, other services): the allowlist does not apply to it.

use std::collections::HashSet;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::HttpRequest;

use super::ApiError;

/// The allowlist, shared by every worker thread. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct OriginPolicy {
    allowed: Arc<HashSet<String>>,
}

impl OriginPolicy {
    /// From `edge.allowed_origins` (already trimmed of blanks and trailing `/`).
    pub fn new(allowed: &[String]) -> Self {
        Self {
            allowed: Arc::new(allowed.iter().map(|o| o.to_ascii_lowercase()).collect()),
        }
    }

    /// Whether `origin` (an `Origin` header's value) is on the list.
    pub fn allows(&self, origin: &str) -> bool {
        self.allowed.contains(&origin.to_ascii_lowercase())
    }

    /// The list, for actix-cors.
    pub fn origins(&self) -> impl Iterator<Item = &str> {
        self.allowed.iter().map(String::as_str)
    }

    /// 403 `origin_not_allowed` when `req` carries an `Origin` that is not
    /// on the list (and, with `same_origin_ok`, not the request's own
    /// `scheme://host`: pages a service serves itself call it same-origin).
    pub fn check(&self, req: &HttpRequest, same_origin_ok: bool) -> Result<(), ApiError> {
        let Some(origin) = req.headers().get(header::ORIGIN) else {
            return Ok(());
        };
        let origin = origin.to_str().unwrap_or("");
        if self.allows(origin) || (same_origin_ok && is_same_origin(req, origin)) {
            return Ok(());
        }
        Err(ApiError::Forbidden {
            code: "origin_not_allowed",
            detail: format!(
                "origin {origin:?} is not allowed (setting edge.allowed_origins)",
                origin = origin.chars().take(200).collect::<String>()
            ),
        })
    }
}

/// Whether `origin` is the request's own scheme and host.
fn is_same_origin(req: &HttpRequest, origin: &str) -> bool {
    let info = req.connection_info();
    origin.eq_ignore_ascii_case(&format!("{}://{}", info.scheme(), info.host()))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn policy() -> OriginPolicy {
        OriginPolicy::new(&["http://127.0.0.1:5173".to_owned()])
    }

    #[test]
    fn no_origin_is_not_a_browser_and_passes() {
        let req = TestRequest::default().to_http_request();
        assert!(policy().check(&req, false).is_ok());
    }

    #[test]
    fn listed_origins_pass_whatever_their_case_and_others_are_403() {
        let ok = TestRequest::default()
            .insert_header(("origin", "HTTP://127.0.0.1:5173"))
            .to_http_request();
        assert!(policy().check(&ok, false).is_ok());
        let bad = TestRequest::default()
            .insert_header(("origin", "http://evil.example"))
            .to_http_request();
        let err = policy().check(&bad, false).unwrap_err();
        assert_eq!(err.code(), "origin_not_allowed");
        assert_eq!(
            actix_web::ResponseError::status_code(&err),
            actix_web::http::StatusCode::FORBIDDEN
        );
    }

    #[test]
    fn the_own_origin_passes_only_where_same_origin_is_allowed() {
        let req = TestRequest::default()
            .insert_header(("host", "127.0.0.1:8080"))
            .insert_header(("origin", "http://127.0.0.1:8080"))
            .to_http_request();
        assert!(policy().check(&req, true).is_ok());
        assert!(policy().check(&req, false).is_err());
    }
}
