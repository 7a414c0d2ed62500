//! A tenant's lifecycle status, read under RLS (the tenant's own row only).

use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::RunQueryDsl;
use kitchen_domain::TenantId;

use super::schema::tenants;
use super::tenant_tx::{in_tenant_tx, TxError};
use super::PgPool;

/// The status of `tenant` (`None`: no such tenant).
pub async fn tenant_status(pool: &PgPool, tenant: TenantId) -> Result<Option<String>, TxError> {
    in_tenant_tx(pool, tenant, |conn| {
        async move {
            tenants::table
                .select(tenants::status)
                .first::<String>(conn)
                .await
                .optional()
                .map_err(TxError::from)
        }
        .scope_boxed()
    })
    .await
}
