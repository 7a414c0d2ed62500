//! Builds the HTTP server from settings; `main` and the tests use the same builder.

use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{web, App};
use kitchen_adapters::auth::JwtVerifier;
use kitchen_adapters::config::{DbRole, Settings};
use kitchen_adapters::edge::{BoundServer, Check, Listen, OriginPolicy, Readiness};
use kitchen_adapters::postgres::platform::PlatformStore;
use kitchen_adapters::postgres::{self, PgCommandQueue, PgEventStore, PgPool};
use kitchen_adapters::shutdown::Shutdown;
use kitchen_adapters::tenant_gate::TenantGate;

use crate::cors;
use crate::metrics::Metrics;
use crate::routes;
use crate::routes::console::{self, ConsoleSettings};

/// Shared by every request.
#[derive(Clone)]
#[allow(missing_debug_implementations)]
pub(crate) struct AppState {
    pub(crate) queue: PgCommandQueue,
    pub(crate) platform: PlatformStore,
    pub(crate) events: PgEventStore,
    pub(crate) pool: PgPool,
    pub(crate) verifier: JwtVerifier,
    pub(crate) gate: TenantGate,
    /// `None` when HS256 is off (the auth routes answer 404).
    pub(crate) login: Option<crate::login::Login>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) readiness: Readiness,
    pub(crate) max_body_bytes: usize,
    /// Per-tenant commands per second (per instance).
    pub(crate) command_rate: Arc<crate::admission::CommandRate>,
    /// Holds tenant-quota refusals before they are answered.
    pub(crate) refusal_delay: crate::admission::RefusalDelay,
    /// The platform's load, read from PostgreSQL.
    pub(crate) load: crate::admission::LoadGauge,
}

/// How long in-flight requests get to finish after shutdown.
const DRAIN: Duration = Duration::from_secs(5);

/// Binds `gateway.host:gateway.port` (port 0 picks a free one), connects to the
/// database as `kitchen_gateway`, and serves until `shutdown` fires; requests in
/// flight then get `DRAIN`, well inside the 10 s a service has to exit.
pub fn build(settings: &Settings, shutdown: &Shutdown) -> anyhow::Result<BoundServer> {
    let pool = postgres::pool(
        &settings.database.role_url(DbRole::Gateway),
        settings.database.pool_size,
    )?;
    build_with_pool(settings, pool, shutdown)
}

/// As [`build`], with a given pool (tests point it at their own database).
/// The tenant gate listens on its own connection (as `kitchen_gateway`) until
/// `shutdown`.
pub fn build_with_pool(
    settings: &Settings,
    pool: PgPool,
    shutdown: &Shutdown,
) -> anyhow::Result<BoundServer> {
    let gate = TenantGate::new(
        pool.clone(),
        Duration::from_secs(settings.tenant_gate.status_ttl_secs),
    );
    gate.start(
        settings.database.role_url(DbRole::Gateway),
        shutdown.clone(),
    );
    let metrics = Arc::new(Metrics::new()?);
    let load = crate::admission::LoadGauge::new(
        &settings.overload,
        std::time::Duration::from_secs(settings.pump.stale_claim_secs),
    );
    load.start(pool.clone(), metrics.clone(), shutdown.clone());
    let state = AppState {
        queue: PgCommandQueue::new(pool.clone()).with_open_limit(settings.quotas.max_open_commands),
        platform: PlatformStore::new(pool.clone()),
        events: PgEventStore::new(pool.clone()),
        readiness: Readiness::new(vec![Check::postgres(pool.clone()), gate.readiness_check()]),
        gate,
        login: crate::login::Login::from_settings(&settings.auth, &settings.login)?,
        pool,
        verifier: JwtVerifier::new(&settings.auth),
        metrics,
        max_body_bytes: settings.gateway.max_body_bytes,
        command_rate: Arc::new(crate::admission::CommandRate::new(&settings.quotas)),
        refusal_delay: crate::admission::RefusalDelay::new(settings.quotas.refusal_hold_ms),
        load,
    };
    let origins = OriginPolicy::new(&settings.edge.allowed_origins);
    let console_settings = ConsoleSettings::new(settings);
    let console_dir = console::console_dir(settings)?;
    if let Some(dir) = &console_dir {
        tracing::info!(dir = %dir.display(), "serving the household console under /console/");
    }
    let listen = Listen {
        service: "command-gateway",
        host: &settings.gateway.host,
        port: settings.gateway.port,
        drain: DRAIN,
        workers: None,
    };
    let server = BoundServer::bind(&listen, shutdown, move || {
        let app = App::new()
            .app_data(web::Data::new(state.clone()))
            .app_data(web::Data::new(origins.clone()))
            .app_data(web::Data::new(console_settings.clone()))
            .app_data(routes::path_config())
            .app_data(routes::query_config())
            .configure(routes::configure);
        // Files after the routes, so `/console/config.json` is the route's.
        let app = match &console_dir {
            Some(dir) => app.service(console::files(dir)),
            None => app,
        };
        app.default_service(web::to(routes::not_found))
            // The last `wrap` runs first: other origins are refused before CORS.
            .wrap(cors::cors(&origins))
            .wrap(from_fn(cors::refuse_other_origins))
    })?;
    Ok(server)
}
