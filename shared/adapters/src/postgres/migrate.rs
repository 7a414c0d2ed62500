//! Runs the SQL migrations of `migrations/`, embedded in the binary.

use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::AsyncPgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use secrecy::{ExposeSecret, SecretString};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("cannot connect to run migrations: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("migration task panicked")]
    Panicked,
}

/// Applies every pending migration as the role in `url` (the owner) and returns
/// the versions applied; an up-to-date database returns an empty list.
pub async fn run_pending(url: &SecretString) -> Result<Vec<String>, MigrateError> {
    let conn = super::tls::establish(url.expose_secret()).await?;
    // diesel's migration harness is synchronous: run it off the async threads.
    tokio::task::spawn_blocking(move || {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::from(conn);
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| MigrateError::Migration(e.to_string()))?;
        Ok(applied.iter().map(|v| v.to_string()).collect())
    })
    .await
    .map_err(|_| MigrateError::Panicked)?
}
