//! Postgres adapters (diesel-async): connection pools per service role, the
//! tenant-scoped transaction every query runs in, migrations and bootstrap.

pub mod bootstrap;
pub mod command_queue;
pub mod command_runner;
pub mod event_store;
pub mod listen;
pub mod migrate;
pub mod notify;
pub mod read_model;
pub mod schema;
mod tenant_tx;

use std::time::Duration;

use diesel_async::pooled_connection::deadpool::{BuildError, Pool};
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::AsyncPgConnection;
use secrecy::{ExposeSecret, SecretString};

pub use command_queue::PgCommandQueue;
pub use event_store::PgEventStore;
pub use tenant_tx::{in_tenant_tx, in_tenant_tx_with, set_tenant, Durability, TxError};

/// A pool of connections, all logged in as one role.
pub type PgPool = Pool<AsyncPgConnection>;

/// Builds a pool; connections are opened lazily, so this never touches the network.
pub fn pool(url: &SecretString, max_size: usize) -> Result<PgPool, BuildError> {
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url.expose_secret());
    Pool::builder(manager)
        .max_size(max_size)
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(Duration::from_secs(10)))
        // Timeouts need a runtime; without one deadpool refuses to build.
        .runtime(deadpool::Runtime::Tokio1)
        .build()
}
