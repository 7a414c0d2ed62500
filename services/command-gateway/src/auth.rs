//! The `Authenticated` extractor: a handler that takes it only runs for a
//! verified caller, and gets the tenant from the token (never from the request).

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use kitchen_adapters::auth::{bearer_token, Caller};

use crate::startup::AppState;
use kitchen_adapters::edge::ApiError;

#[derive(Debug)]
pub(crate) struct Authenticated(pub(crate) Caller);

/// The app state and the `Authorization` header of `req`, taken before the
/// request is borrowed away (the extractors' futures are `'static`).
pub(crate) fn state_and_header(
    req: &HttpRequest,
) -> (web::Data<AppState>, Result<Option<String>, ApiError>) {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .expect("AppState is registered");
    let header = match req.headers().get(header::AUTHORIZATION) {
        None => Ok(None),
        Some(value) => value.to_str().map(|v| Some(v.to_owned())).map_err(|_| {
            ApiError::Unauthorized(kitchen_adapters::auth::AuthError::Malformed(
                "header is not ASCII".into(),
            ))
        }),
    };
    (state, header)
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let (state, header) = state_and_header(req);
        Box::pin(async move {
            let header = header?;
            let result: Result<_, ApiError> = async {
                let token = bearer_token(header.as_deref()).map_err(ApiError::Unauthorized)?;
                let caller = state
                    .verifier
                    .verify(token)
                    .await
                    .map_err(ApiError::Unauthorized)?;
                // The front door: only active tenants are served (from the
                // gate's cache; no round trip once the tenant has been seen).
                state.gate.check(caller.tenant).await?;
                Ok(caller)
            }
            .await;
            match result {
                Ok(caller) => Ok(Authenticated(caller)),
                Err(e) => {
                    state.metrics.refused(e.code());
                    Err(e)
                }
            }
        })
    }
}
