//! Builds the HTTP server from settings; `main` and the tests use the same builder.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use kitchen_adapters::auth::JwtVerifier;
use kitchen_adapters::config::{DbRole, Settings};
use kitchen_adapters::edge::{Check, Readiness};
use kitchen_adapters::postgres::platform::PlatformStore;
use kitchen_adapters::postgres::{self, PgCommandQueue, PgEventStore, PgPool};
use kitchen_adapters::shutdown::Shutdown;

use crate::metrics::Metrics;
use crate::routes;

/// Shared by every request.
#[derive(Clone)]
#[allow(missing_debug_implementations)]
pub(crate) struct AppState {
    pub(crate) queue: PgCommandQueue,
    pub(crate) platform: PlatformStore,
    pub(crate) events: PgEventStore,
    pub(crate) pool: PgPool,
    pub(crate) verifier: JwtVerifier,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) readiness: Readiness,
    pub(crate) max_body_bytes: usize,
}

/// Seconds in-flight requests get to finish after shutdown.
const DRAIN_SECS: u64 = 5;

/// A bound, not yet running, gateway.
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
    /// Binds `gateway.host:gateway.port` (port 0 picks a free one) and connects
    /// to the database as `kitchen_gateway`.
    pub fn build(settings: &Settings) -> anyhow::Result<Application> {
        let pool = postgres::pool(
            &settings.database.role_url(DbRole::Gateway),
            settings.database.pool_size,
        )?;
        Self::build_with_pool(settings, pool)
    }

    /// As `build`, with a given pool (tests point it at their own database).
    pub fn build_with_pool(settings: &Settings, pool: PgPool) -> anyhow::Result<Application> {
        let state = AppState {
            queue: PgCommandQueue::new(pool.clone()),
            platform: PlatformStore::new(pool.clone()),
            events: PgEventStore::new(pool.clone()),
            readiness: Readiness::new(vec![Check::postgres(pool.clone())]),
            pool,
            verifier: JwtVerifier::new(&settings.auth),
            metrics: Arc::new(Metrics::new()?),
            max_body_bytes: settings.gateway.max_body_bytes,
        };
        let listener = TcpListener::bind((settings.gateway.host.as_str(), settings.gateway.port))?;
        let address = listener.local_addr()?;
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .app_data(routes::path_config())
                .app_data(routes::query_config())
                .configure(routes::configure)
                .default_service(web::to(routes::not_found))
        })
        .listen(listener)?
        // Our `Shutdown` stops it (see `run_until_stopped`); in-flight requests
        // get DRAIN_SECS, well inside the 10 s a service has to exit.
        .disable_signals()
        .shutdown_timeout(DRAIN_SECS)
        .run();
        Ok(Application { address, server })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Serves until `shutdown` fires, then stops accepting and lets in-flight
    /// requests finish (at most `DRAIN_SECS`).
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> std::io::Result<()> {
        shutdown.stop_server(&self.server);
        self.server.await?;
        tracing::info!("command-gateway stopped");
        Ok(())
    }
}
