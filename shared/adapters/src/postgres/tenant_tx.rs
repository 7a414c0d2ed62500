//! Every tenant query runs inside a transaction that first sets `app.tenant_id`
//! with `set_config(..., true)`: transaction-local, so a pooled connection can
//! never carry one tenant's setting into another tenant's work.

use diesel::sql_types::Text;
use diesel_async::scoped_futures::ScopedBoxFuture;
use diesel_async::{AnsiTransactionManager, AsyncPgConnection, RunQueryDsl, TransactionManager};
use kitchen_domain::TenantId;

use super::PgPool;

/// Failure of the transaction machinery itself (not of the work inside it).
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    #[error("no database connection available")]
    Pool(#[from] diesel_async::pooled_connection::deadpool::PoolError),
    #[error("database error")]
    Database(#[from] diesel::result::Error),
}

/// Runs `work` in a transaction scoped to `tenant`. Commits when `work` returns
/// `Ok`, rolls back otherwise.
pub async fn in_tenant_tx<'a, T, E, F>(pool: &PgPool, tenant: TenantId, work: F) -> Result<T, E>
where
    F: for<'r> FnOnce(&'r mut AsyncPgConnection) -> ScopedBoxFuture<'a, 'r, Result<T, E>>
        + Send
        + 'a,
    E: From<TxError> + From<diesel::result::Error> + Send + 'a,
    T: Send + 'a,
{
    let mut conn = pool.get().await.map_err(TxError::from)?;
    run_in_tenant_tx(&mut conn, tenant, "BEGIN", work).await
}

/// Opens the transaction with `begin` and sets the tenant in the same round
/// trip, runs `work`, then commits or rolls back through diesel's transaction
/// manager (so the pool still sees a clean connection afterwards).
pub(crate) async fn run_in_tenant_tx<'a, T, E, F>(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    begin: &str,
    work: F,
) -> Result<T, E>
where
    F: for<'r> FnOnce(&'r mut AsyncPgConnection) -> ScopedBoxFuture<'a, 'r, Result<T, E>>
        + Send
        + 'a,
    E: From<diesel::result::Error> + Send + 'a,
    T: Send + 'a,
{
    // A TenantId is a parsed UUID: formatting it into the SQL cannot inject.
    let sql = format!("{begin}; SELECT set_config('app.tenant_id', '{tenant}', true)");
    AnsiTransactionManager::begin_transaction_sql(conn, &sql).await?;
    match work(conn).await {
        Ok(value) => {
            AnsiTransactionManager::commit_transaction(conn).await?;
            Ok(value)
        }
        Err(e) => match AnsiTransactionManager::rollback_transaction(conn).await {
            // The work's error is the one that matters; a broken connection is
            // dropped by the pool.
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(e),
            Err(rollback) => Err(rollback.into()),
        },
    }
}

/// Sets the tenant for the rest of the current transaction.
pub async fn set_tenant(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
) -> Result<(), diesel::result::Error> {
    diesel::sql_query("SELECT set_config('app.tenant_id', $1, true)")
        .bind::<Text, _>(tenant.to_string())
        .execute(conn)
        .await
        .map(|_| ())
}
