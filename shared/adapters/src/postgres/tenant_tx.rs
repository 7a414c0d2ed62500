//! Every tenant query runs inside a transaction that first sets `app.tenant_id`
//! with `set_config(..., true)`: transaction-local, so a pooled connection can
//! never carry one tenant's setting into another tenant's work.

use diesel::sql_types::Text;
use diesel_async::scoped_futures::ScopedBoxFuture;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
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
    conn.transaction::<T, E, _>(|conn| {
        Box::pin(async move {
            set_tenant(conn, tenant).await?;
            work(conn).await
        })
    })
    .await
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
