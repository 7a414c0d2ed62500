//! Builds the realtime server from settings; `main` and the tests share it.

use std::time::Duration;

use actix_web::body::{BodyStream, MessageBody};
use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, App, HttpRequest, HttpResponse};
use kitchen_adapters::auth::JwtVerifier;
use kitchen_adapters::config::{DbRole, Settings};
use kitchen_adapters::edge::{
    self, query_config, request_token, ApiError, BoundServer, Check, Listen, OriginPolicy, Query,
    Readiness, TokenSource, SUBPROTOCOL,
};
use kitchen_adapters::postgres::listen::ListenHealth;
use kitchen_adapters::postgres::{self, PgEventStore};
use kitchen_adapters::shutdown::Shutdown;
use kitchen_adapters::tenant_gate::TenantGate;
use serde::Deserialize;

use crate::hub::Hub;
use crate::metrics::RealtimeMetrics;
use crate::outbox;
use crate::session::{self, Timing};
use crate::socket_quota::SocketQuota;

#[derive(Clone)]
#[allow(missing_debug_implementations)]
struct State {
    hub: Hub,
    store: PgEventStore,
    readiness: Readiness,
    verifier: JwtVerifier,
    gate: TenantGate,
    origins: OriginPolicy,
    timing: Timing,
    shutdown: Shutdown,
    sockets: SocketQuota,
}

/// `GET /v1/stream` parameters (percent-decoded; unknown ones are ignored, as
/// browsers and proxies add their own).
#[derive(Debug, Deserialize)]
struct StreamQuery {
    /// The last seq the client has (0: from the start).
    after: Option<u64>,
    /// The token, for clients that cannot set headers (browsers).
    access_token: Option<String>,
    /// The log incarnation the client's `after` belongs to (from
    /// `GET /v1/snapshot` or a `ready` frame); another one gets a `reset`.
    epoch: Option<uuid::Uuid>,
}

fn after_seq(query: &StreamQuery) -> Result<i64, ApiError> {
    query
        .after
        .map(|n| {
            i64::try_from(n).map_err(|_| {
                ApiError::bad_request(
                    "invalid_query",
                    Some("after".into()),
                    "`after` is too large",
                )
            })
        })
        .transpose()
        .map(|after| after.unwrap_or(0))
}

async fn stream(
    req: HttpRequest,
    body: web::Payload,
    Query(query): Query<StreamQuery>,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    // A browser page of an origin not on the list may not open the stream
    // (the WebSocket handshake is not subject to CORS: the server decides).
    state.origins.check(&req, false)?;
    let after = after_seq(&query)?;
    let (token, source) = request_token(&req, query.access_token.as_deref())?;
    let caller = state
        .verifier
        .verify(&token)
        .await
        .map_err(ApiError::Unauthorized)?;
    // Only active tenants get a socket (403 `tenant_not_active` otherwise).
    state.gate.check(caller.tenant).await?;
    let Some(permit) = state.sockets.try_open(caller.tenant) else {
        state
            .hub
            .metrics
            .refused
            .with_label_values(&["tenant_socket_limit"])
            .inc();
        return Err(ApiError::QuotaExceeded {
            code: "tenant_socket_limit",
            retry_after_secs: 5,
            detail: "the tenant has as many live sockets as its quota allows on this instance"
                .into(),
        });
    };
    // actix-ws checks the handshake and decodes what the client sends; the
    // response's body is ours: the socket's outbox, written from the
    // connection's own task (actix-ws's body and its session channel, one
    // more task hop per frame, are dropped unused).
    let (response, unused_session, messages) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::bad_request("not_a_websocket", None, e.to_string()))?;
    drop(unused_session);
    let (outbox, body) = outbox::pair(after, &state.hub.metrics);
    let mut response = response.set_body(BodyStream::new(body).boxed());
    if source == TokenSource::Subprotocol {
        // The server must pick one of the offered protocols.
        let offered = req
            .headers()
            .get(header::SEC_WEBSOCKET_PROTOCOL)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let chosen = if offered.split(',').any(|p| p.trim() == SUBPROTOCOL) {
            SUBPROTOCOL
        } else {
            token.as_str()
        };
        if let Ok(value) = HeaderValue::from_str(chosen) {
            response
                .headers_mut()
                .insert(header::SEC_WEBSOCKET_PROTOCOL, value);
        }
    }
    tracing::info!(tenant_id = %caller.tenant, after, "socket opened");
    let socket = session::run(
        outbox,
        messages,
        caller.tenant,
        caller.expires_at,
        after,
        query.epoch,
        state.hub.clone(),
        state.store.clone(),
        state.gate.clone(),
        state.timing,
        state.shutdown.clone(),
    );
    actix_web::rt::spawn(async move {
        socket.await;
        // Its place in the tenant's quota is freed when the socket ends.
        drop(permit);
    });
    Ok(response)
}

async fn scrape(state: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(kitchen_adapters::metrics::CONTENT_TYPE)
        .body(state.hub.metrics.render())
}

async fn readyz(state: web::Data<State>) -> Result<HttpResponse, ApiError> {
    state.readiness.respond().await
}

/// Sockets are connections in flight: once shutdown fires they get this long
/// to take their close frame, inside the 10 s a service has to exit.
const DRAIN: Duration = Duration::from_secs(5);

/// Binds `realtime.host:realtime.port` (0 = free port); connects as
/// `kitchen_realtime`. Its hub and LISTEN connection start now and run until
/// `shutdown`, which also closes every socket (1001) and stops the server.
pub fn build(settings: &Settings, shutdown: &Shutdown) -> anyhow::Result<BoundServer> {
    let url = settings.database.role_url(DbRole::Realtime);
    let pool = postgres::pool(&url, settings.database.pool_size)?;
    let store = PgEventStore::new(pool.clone());
    let r = &settings.realtime;
    let metrics = RealtimeMetrics::new()?;
    let listen_health = ListenHealth::default();
    // The front door has its own LISTEN connection (channel `tenants`).
    let gate = TenantGate::new(
        pool.clone(),
        Duration::from_secs(settings.tenant_gate.status_ttl_secs),
    );
    gate.start(url.clone(), shutdown.clone());
    let hub = Hub::start(
        store.clone(),
        url,
        r.queue_capacity,
        metrics,
        shutdown.clone(),
        listen_health.clone(),
    );
    let state = State {
        hub,
        store,
        readiness: Readiness::new(vec![
            Check::postgres(pool),
            listen_health.check(),
            gate.readiness_check(),
        ]),
        verifier: JwtVerifier::new(&settings.auth),
        gate,
        origins: OriginPolicy::new(&settings.edge.allowed_origins),
        timing: Timing {
            heartbeat: Duration::from_secs(r.heartbeat_secs),
            client_timeout: Duration::from_secs(r.client_timeout_secs),
            write_timeout: Duration::from_secs(r.write_timeout_secs),
        },
        shutdown: shutdown.clone(),
        sockets: SocketQuota::new(settings.quotas.max_sockets),
    };
    let listen = Listen {
        service: "realtime",
        host: &r.host,
        port: r.port,
        drain: DRAIN,
        workers: None,
    };
    let server = BoundServer::bind(&listen, shutdown, move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .app_data(query_config())
            .route("/v1/stream", web::get().to(stream))
            .route("/healthz", web::get().to(edge::healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(scrape))
    })?;
    Ok(server)
}

/// The fuzz targets' entry (`fuzz/`) to what an upgrade request carries from
/// outside before anything is verified: the query string (`after`,
/// `access_token`, percent-decoded) and the token's place (`Authorization`,
/// `Sec-WebSocket-Protocol`, the query). Not an API.
#[doc(hidden)]
pub mod fuzzing {
    use actix_web::http::header::{self, HeaderValue};
    use actix_web::test::TestRequest;
    use kitchen_adapters::edge::{parse_query, request_token, ApiError};

    use super::{after_seq, StreamQuery};

    /// Parses an upgrade request made of `data`: the query string, then
    /// (after each `\n`) an `Authorization` and a `Sec-WebSocket-Protocol`
    /// value. Returns the `after` and the token found, or the refusal.
    pub fn stream_request(data: &[u8]) -> Result<(i64, String), ApiError> {
        let mut parts = data.splitn(3, |b| *b == b'\n');
        let query = String::from_utf8_lossy(parts.next().unwrap_or_default());
        let mut request = TestRequest::default();
        for (name, value) in [header::AUTHORIZATION, header::SEC_WEBSOCKET_PROTOCOL]
            .into_iter()
            .zip(parts)
        {
            // What HTTP cannot carry never reaches the server.
            if let Ok(value) = HeaderValue::from_bytes(value) {
                request = request.insert_header((name, value));
            }
        }
        let request = request.to_http_request();
        let result = parse_query::<StreamQuery>(&query).and_then(|stream| {
            let after = after_seq(&stream)?;
            let (token, _) = request_token(&request, stream.access_token.as_deref())?;
            Ok((after, token))
        });
        match &result {
            Ok((after, _)) => assert!(*after >= 0, "a negative `after` passed"),
            Err(e) => assert!(
                matches!(
                    e.code(),
                    "invalid_query" | "ambiguous_token" | "token_missing" | "token_malformed"
                ),
                "unexpected refusal {}: {e}",
                e.code()
            ),
        }
        result
    }

    #[cfg(test)]
    mod tests {
        /// The fuzz target's corpus, replayed as a test.
        #[test]
        fn the_stream_request_corpus_replays_with_typed_refusals() {
            let mut accepted = 0;
            let inputs = kitchen_adapters::fuzzing::corpus("stream_request");
            for (path, data) in &inputs {
                // Shown only if the replay fails: which input did it.
                eprintln!("replaying {}", path.display());
                accepted += usize::from(super::stream_request(data).is_ok());
            }
            assert!(
                accepted >= 3 && accepted < inputs.len(),
                "{accepted} accepted"
            );
        }
    }
}
