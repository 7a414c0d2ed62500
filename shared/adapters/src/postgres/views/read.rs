//! Reading a view: the active version's rows and the seq they reflect, in one
//! REPEATABLE READ snapshot. Views are written in the same transaction as
//! their events, so "view at seq N" is exact.

use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::RunQueryDsl;
use kitchen_domain::ports::StoreError;
use kitchen_domain::projection::{Projection, ViewRow};
use kitchen_domain::{Seq, TenantId};
use serde_json::Value;

use crate::postgres::event_store::PgFailure;
use crate::postgres::schema::{tenant_sequences, view_heads, view_rows};
use crate::postgres::tenant_tx::run_in_tenant_tx;
use crate::postgres::PgPool;

/// A view as clients read it.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewAt {
    /// The tenant's log seq the view reflects.
    pub seq: Seq,
    pub view: Value,
}

/// Why a view could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ViewReadError {
    /// The tenant has events but no view of this projection yet (a rebuild
    /// is building it): 503, retry shortly.
    #[error("view {0} is being built for this tenant")]
    NotBuilt(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn corrupt(e: kitchen_domain::IdError) -> StoreError {
    StoreError::CorruptRow(e.to_string())
}

/// Reads `projection`'s view for `tenant`, only the row `key` when given.
#[tracing::instrument(skip(pool, projection), fields(tenant_id = %tenant, view = projection.name))]
pub async fn read_view(
    pool: &PgPool,
    tenant: TenantId,
    projection: &'static Projection,
    key: Option<&str>,
) -> Result<ViewAt, ViewReadError> {
    let mut conn = pool
        .get()
        .await
        .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
    let key = key.map(str::to_owned);
    let found = run_in_tenant_tx::<_, PgFailure, _>(
        &mut conn,
        tenant,
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        |conn| {
            async move {
                let head: Option<(i32, i64)> = view_heads::table
                    .filter(view_heads::tenant_id.eq(tenant.as_uuid()))
                    .filter(view_heads::projection.eq(projection.name))
                    .filter(view_heads::state.eq("active"))
                    .select((view_heads::generation, view_heads::seq))
                    .first(conn)
                    .await
                    .optional()?;
                let Some((generation, seq)) = head else {
                    let log_head: Option<i64> = tenant_sequences::table
                        .filter(tenant_sequences::tenant_id.eq(tenant.as_uuid()))
                        .select(tenant_sequences::last_seq)
                        .first(conn)
                        .await
                        .optional()?;
                    return Ok(log_head
                        .filter(|&n| n > 0)
                        .map(|_| None)
                        .unwrap_or(Some((0, Vec::new()))));
                };
                let mut query = view_rows::table
                    .filter(view_rows::tenant_id.eq(tenant.as_uuid()))
                    .filter(view_rows::projection.eq(projection.name))
                    .filter(view_rows::generation.eq(generation))
                    .order(view_rows::key.asc())
                    .select((view_rows::key, view_rows::doc, view_rows::seq))
                    .into_boxed();
                if let Some(key) = key {
                    query = query.filter(view_rows::key.eq(key));
                }
                let rows: Vec<(String, Value, i64)> = query.load(conn).await?;
                Ok(Some((seq, rows)))
            }
            .scope_boxed()
        },
    )
    .await
    .map_err(|f| f.into_store_error(None))?;
    let Some((seq, rows)) = found else {
        return Err(ViewReadError::NotBuilt(projection.name));
    };
    let rows = rows
        .into_iter()
        .map(|(key, doc, seq)| {
            Ok(ViewRow {
                key,
                doc,
                seq: Seq::new(seq).map_err(corrupt)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(ViewAt {
        seq: Seq::new(seq).map_err(corrupt)?,
        view: projection.view(rows),
    })
}
