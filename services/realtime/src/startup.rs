//! Builds the realtime server from settings; `main` and the tests share it.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use kitchen_adapters::auth::{AuthError, JwtVerifier};
use kitchen_adapters::config::{DbRole, Settings};
use kitchen_adapters::postgres::{self, PgEventStore, PgPool};
use kitchen_adapters::shutdown::Shutdown;
use serde_json::json;

use crate::auth::{find_token, TokenSource, SUBPROTOCOL};
use crate::hub::Hub;
use crate::session::{self, Timing};

#[derive(Clone)]
#[allow(missing_debug_implementations)]
struct State {
    hub: Hub,
    store: PgEventStore,
    pool: PgPool,
    verifier: JwtVerifier,
    timing: Timing,
    shutdown: Shutdown,
}

fn problem(status: u16, code: &str, detail: &str) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status).expect("valid status");
    let mut response = HttpResponse::build(status);
    response.content_type("application/problem+json");
    if status.as_u16() == 401 {
        if let Ok(value) = HeaderValue::from_str(&format!(
            "Bearer error=\"invalid_token\", error_description=\"{detail}\""
        )) {
            response.insert_header((header::WWW_AUTHENTICATE, value));
        }
    }
    response.body(
        json!({"type": format!("/problems/{code}"), "title": status.canonical_reason(), "status": status.as_u16(), "code": code, "detail": detail})
            .to_string(),
    )
}

fn unauthorized(e: AuthError) -> HttpResponse {
    let status = if matches!(e, AuthError::KeysUnavailable) {
        503
    } else {
        401
    };
    problem(status, e.code(), &e.to_string())
}

fn after_param(req: &HttpRequest) -> Result<i64, HttpResponse> {
    let raw = req.query_string().split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "after").then_some(v)
    });
    match raw {
        None => Ok(0),
        Some(v) => v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            problem(
                400,
                "invalid_after",
                "`after` must be a seq (an integer >= 0)",
            )
        }),
    }
}

async fn stream(req: HttpRequest, body: web::Payload, state: web::Data<State>) -> HttpResponse {
    let after = match after_param(&req) {
        Ok(after) => after,
        Err(response) => return response,
    };
    let (token, source) = match find_token(&req) {
        Ok(found) => found,
        Err(e) => return unauthorized(e),
    };
    let caller = match state.verifier.verify(&token).await {
        Ok(caller) => caller,
        Err(e) => return unauthorized(e),
    };
    let (mut response, session, messages) = match actix_ws::handle(&req, body) {
        Ok(parts) => parts,
        Err(e) => return problem(400, "not_a_websocket", &e.to_string()),
    };
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
    actix_web::rt::spawn(session::run(
        session,
        messages,
        caller,
        after,
        state.hub.clone(),
        state.store.clone(),
        state.timing,
        state.shutdown.clone(),
    ));
    response
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn readyz(state: web::Data<State>) -> HttpResponse {
    if kitchen_adapters::ops_http::database_ready(&state.pool).await {
        HttpResponse::Ok().json(json!({"status": "ready"}))
    } else {
        problem(503, "unavailable", "database unreachable")
    }
}

/// A bound realtime server.
pub struct Application {
    address: SocketAddr,
    server: Server,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("address", &self.address)
            .finish()
    }
}

impl Application {
    /// Binds `realtime.host:realtime.port` (0 = free port); connects as
    /// `kitchen_realtime`. Its hub and LISTEN connection start now and run
    /// until `shutdown`, which also closes every socket (1001) and stops the
    /// server.
    pub fn build(settings: &Settings, shutdown: &Shutdown) -> anyhow::Result<Application> {
        let url = settings.database.role_url(DbRole::Realtime);
        let pool = postgres::pool(&url, settings.database.pool_size)?;
        let store = PgEventStore::new(pool.clone());
        let r = &settings.realtime;
        let hub = Hub::start(store.clone(), url, r.queue_capacity, shutdown.clone());
        let state = State {
            hub,
            store,
            pool,
            verifier: JwtVerifier::new(&settings.auth),
            timing: Timing {
                heartbeat: Duration::from_secs(r.heartbeat_secs),
                client_timeout: Duration::from_secs(r.client_timeout_secs),
                write_timeout: Duration::from_secs(r.write_timeout_secs),
            },
            shutdown: shutdown.clone(),
        };
        let listener = TcpListener::bind((r.host.as_str(), r.port))?;
        let address = listener.local_addr()?;
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .route("/v1/stream", web::get().to(stream))
                .route("/healthz", web::get().to(healthz))
                .route("/readyz", web::get().to(readyz))
        })
        .listen(listener)?
        // Our `Shutdown` stops it. Sockets are connections in flight: they get
        // up to 5 s to take their close frame, inside the 10 s to exit.
        .disable_signals()
        .shutdown_timeout(5)
        .run();
        shutdown.stop_server(&server);
        Ok(Application { address, server })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until the shutdown given to `build` fires and every socket
    /// has been closed (or the drain time is up).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await?;
        tracing::info!("realtime stopped");
        Ok(())
    }
}
