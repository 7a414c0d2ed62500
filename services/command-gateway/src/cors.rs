//! Browsers on the origins of `edge.allowed_origins` may call the API: the
//! gateway answers their CORS preflights and marks their answers readable
//! (actix-cors). A browser request from any other origin is refused with 403
//! `origin_not_allowed` before it reaches a handler, preflight included, so a
//! page learns why instead of seeing an opaque network error. Requests without
//! `Origin` (curl, the CLI, services) and the gateway's own pages (the console
//! it serves under `/console/`: same origin) are not affected.

use actix_cors::Cors;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError};
use kitchen_adapters::edge::OriginPolicy;

/// How long a browser may cache a preflight's answer.
const PREFLIGHT_MAX_AGE_SECS: usize = 3600;

/// The CORS middleware for the allowed origins.
pub(crate) fn cors(origins: &OriginPolicy) -> Cors {
    let allowed = origins.clone();
    Cors::default()
        .allowed_origin_fn(move |origin, _| origin.to_str().is_ok_and(|o| allowed.allows(o)))
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .expose_headers([header::LOCATION, header::RETRY_AFTER])
        .max_age(PREFLIGHT_MAX_AGE_SECS)
}

/// Refuses a request whose `Origin` is neither allowed nor the gateway's own
/// (see the module docs). Wraps outside [`cors`].
pub(crate) async fn refuse_other_origins(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let origins = req
        .app_data::<actix_web::web::Data<OriginPolicy>>()
        .map(|d| d.get_ref().clone())
        .unwrap_or_default();
    if let Err(refusal) = origins.check(req.request(), true) {
        let response = refusal.error_response();
        return Ok(req.into_response(response));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}
