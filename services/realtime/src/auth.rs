//! The token of a WebSocket upgrade: from `Authorization: Bearer`, from the
//! `access_token` query parameter, or from `Sec-WebSocket-Protocol` (browsers
//! cannot set headers on a WebSocket): `Sec-WebSocket-Protocol: kitchen.v1, <jwt>`.

use actix_web::http::header;
use actix_web::HttpRequest;
use kitchen_adapters::auth::{bearer_token, AuthError};

/// The subprotocol echoed to clients that authenticate through the header.
pub(crate) const SUBPROTOCOL: &str = "kitchen.v1";

/// Where the token came from.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TokenSource {
    Header,
    Query,
    Subprotocol,
}

fn query_token(req: &HttpRequest) -> Option<String> {
    req.query_string().split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "access_token").then(|| v.to_owned())
    })
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

/// Finds the token; a malformed `Authorization` header is an error, not a miss.
pub(crate) fn find_token(req: &HttpRequest) -> Result<(String, TokenSource), AuthError> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| AuthError::Malformed("header is not ASCII".into()))?;
        return Ok((bearer_token(Some(value))?.to_owned(), TokenSource::Header));
    }
    if let Some(token) = query_token(req) {
        return Ok((token, TokenSource::Query));
    }
    if let Some(token) = protocol_token(req) {
        return Ok((token, TokenSource::Subprotocol));
    }
    Err(AuthError::Missing)
}
