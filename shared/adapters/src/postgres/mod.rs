//! Postgres adapters (diesel-async): connection pools per service role, the
//! tenant-scoped transaction every query runs in, migrations and bootstrap.

pub mod bootstrap;
pub mod command_queue;
pub mod credentials;
pub mod event_store;
pub mod lifecycle;
pub mod listen;
pub mod migrate;
pub mod notify;
pub mod platform;
mod prepared;
pub mod read_model;
pub mod schema;
pub mod stream;
pub mod tenant_status;
mod tenant_tx;
pub mod tls;
pub mod unit_of_work;
pub mod views;

use std::sync::OnceLock;
use std::time::Duration;

use deadpool::managed::{Manager, Metrics, RecycleResult};
use diesel::ConnectionError;
use diesel::ConnectionResult;
use diesel_async::pooled_connection::deadpool::BuildError;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, PoolError, RecyclingMethod,
};
use diesel_async::AsyncPgConnection;
use futures_util::future::{BoxFuture, FutureExt};
use secrecy::{ExposeSecret, SecretString};

pub use command_queue::PgCommandQueue;
pub use event_store::PgEventStore;
pub use prepared::Prepared;
pub use tenant_tx::{in_tenant_tx, set_tenant, TxError};

/// A pool of connections, all logged in as one role.
pub type PgPool = deadpool::managed::Pool<PgManager>;

/// A connection idle at least this long is checked with a query before reuse.
const VERIFY_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Hands out pooled connections, checking with a test query only those that sat
/// idle (`VERIFY_AFTER_IDLE`), as HikariCP does: a connection used moments ago
/// is alive, and checking it would add a round trip to every transaction. One
/// that broke while busy is discarded on return either way.
pub struct PgManager {
    fast: AsyncDieselConnectionManager<AsyncPgConnection>,
    verified: AsyncDieselConnectionManager<AsyncPgConnection>,
}

impl std::fmt::Debug for PgManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgManager").finish_non_exhaustive()
    }
}

impl Manager for PgManager {
    type Type = AsyncPgConnection;
    type Error = PoolError;

    async fn create(&self) -> Result<AsyncPgConnection, PoolError> {
        self.verified.create().await
    }

    async fn recycle(
        &self,
        conn: &mut AsyncPgConnection,
        metrics: &Metrics,
    ) -> RecycleResult<PoolError> {
        if metrics.last_used() < VERIFY_AFTER_IDLE {
            self.fast.recycle(conn, metrics).await
        } else {
            self.verified.recycle(conn, metrics).await
        }
    }
}

/// The runtime every pooled connection's driver (tokio-postgres' background
/// task, spawned where the connection is opened) runs on, for the life of the
/// process. Opened from a request, the driver would live on that actix worker's
/// own runtime, which a graceful shutdown drops while other workers still
/// drain their requests on the same pooled connection ("connection closed",
/// answered 503); a test's runtime ends with the test the same way.
fn driver_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            // Drivers only move bytes between sockets and channels.
            .worker_threads(2)
            .thread_name("pg-driver")
            .enable_all()
            .build()
            .expect("a tokio runtime for connection drivers")
    })
}

/// Opens a connection on [`driver_runtime`], so its driver outlives the caller's runtime.
fn establish_on_driver_runtime(url: &str) -> BoxFuture<'_, ConnectionResult<AsyncPgConnection>> {
    let url = url.to_owned();
    let opened = driver_runtime().spawn(async move { tls::establish(&url).await });
    async move {
        opened
            .await
            .map_err(|e| ConnectionError::BadConnection(format!("opening a connection: {e}")))?
    }
    .boxed()
}

/// Builds a pool; connections are opened lazily, so this never touches the network.
pub fn pool(url: &SecretString, max_size: usize) -> Result<PgPool, BuildError> {
    let manager = |recycling_method| {
        let mut config = ManagerConfig::default();
        config.recycling_method = recycling_method;
        config.custom_setup = Box::new(establish_on_driver_runtime);
        AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
            url.expose_secret(),
            config,
        )
    };
    let manager = PgManager {
        fast: manager(RecyclingMethod::Fast),
        verified: manager(RecyclingMethod::Verified),
    };
    deadpool::managed::Pool::builder(manager)
        .max_size(max_size)
        // Most recently used first: under light load the same few connections
        // serve every transaction (their statements already prepared, their
        // backends warm), and the rest go idle and are verified before reuse.
        .queue_mode(deadpool::managed::QueueMode::Lifo)
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(Duration::from_secs(10)))
        // Timeouts need a runtime; without one deadpool refuses to build.
        .runtime(deadpool::Runtime::Tokio1)
        .build()
}
