//! The bearer token of a request: from `Authorization: Bearer`, or (for
//! WebSocket upgrades, as browsers cannot set headers) from the `access_token`
//! query parameter or `Sec-WebSocket-Protocol: kitchen.v1, <jwt>`. A request
//! that carries two different tokens is refused: silently picking one could
//! act for the wrong tenant.

use actix_web::http::header;
use actix_web::HttpRequest;

use super::ApiError;
use crate::auth::{bearer_token, AuthError};

/// The subprotocol echoed to clients that authenticate through the header.
pub const SUBPROTOCOL: &str = "kitchen.v1";

/// Where the token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    Header,
    Query,
    Subprotocol,
}

fn protocol_token(req: &HttpRequest) -> Option<String> {
    let value = req
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)?
        .to_str()
        .ok()?;
    value
        .split(',')
        .map(str::trim)
        .find(|p| p.matches('.').count() == 2)
        .map(str::to_owned)
}

fn header_token(req: &HttpRequest) -> Result<Option<String>, AuthError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| AuthError::Malformed("header is not ASCII".into()))?;
    Ok(Some(bearer_token(Some(value))?.to_owned()))
}

/// Finds the one token of `req`; `query_token` is the (decoded) `access_token`
/// parameter, if any. A malformed `Authorization` header is an error, not a miss.
pub fn request_token(
    req: &HttpRequest,
    query_token: Option<&str>,
) -> Result<(String, TokenSource), ApiError> {
    let found: Vec<(String, TokenSource)> = [
        header_token(req)
            .map_err(ApiError::Unauthorized)?
            .map(|t| (t, TokenSource::Header)),
        query_token.map(|t| (t.to_owned(), TokenSource::Query)),
        protocol_token(req).map(|t| (t, TokenSource::Subprotocol)),
    ]
    .into_iter()
    .flatten()
    .collect();
    match found.as_slice() {
        [] => Err(ApiError::Unauthorized(AuthError::Missing)),
        [first, rest @ ..] if rest.iter().all(|(t, _)| *t == first.0) => Ok(first.clone()),
        _ => Err(ApiError::bad_request(
            "ambiguous_token",
            None,
            "the request carries different tokens (header, access_token, subprotocol); send one",
        )),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn one_token_in_any_place_is_found_with_its_source() {
        let req = TestRequest::default()
            .insert_header((header::AUTHORIZATION, "Bearer a.b.c"))
            .to_http_request();
        assert_eq!(
            request_token(&req, None).unwrap(),
            ("a.b.c".into(), TokenSource::Header)
        );
        let req = TestRequest::default()
            .insert_header((header::SEC_WEBSOCKET_PROTOCOL, "kitchen.v1, a.b.c"))
            .to_http_request();
        assert_eq!(
            request_token(&req, None).unwrap(),
            ("a.b.c".into(), TokenSource::Subprotocol)
        );
        let req = TestRequest::default().to_http_request();
        assert_eq!(
            request_token(&req, Some("a.b.c")).unwrap(),
            ("a.b.c".into(), TokenSource::Query)
        );
    }

    #[test]
    fn the_same_token_twice_is_fine_and_two_different_ones_are_refused() {
        let req = TestRequest::default()
            .insert_header((header::AUTHORIZATION, "Bearer a.b.c"))
            .to_http_request();
        assert!(request_token(&req, Some("a.b.c")).is_ok());
        let err = request_token(&req, Some("x.y.z")).unwrap_err();
        assert_eq!(err.code(), "ambiguous_token");
    }

    #[test]
    fn no_token_is_401_missing() {
        let req = TestRequest::default().to_http_request();
        assert_eq!(
            request_token(&req, None).unwrap_err().code(),
            "token_missing"
        );
    }
}
