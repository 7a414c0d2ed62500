//! `EventStore` on Postgres, split by concern: [`sql`] holds the statements
//! (usable inside another transaction, as the worker's unit of work does),
//! [`rows`] the row types and their upcasting, [`errors`] the one mapping of
//! database failures to `StoreError`; this file is the port.

mod errors;
mod rows;
mod sql;

use diesel_async::scoped_futures::ScopedFutureExt;
use kitchen_domain::envelope::{LoadedStream, NewEvent, RecordedEvent, StreamRef};
use kitchen_domain::ports::{check_append, check_read_limit, EventStore, StoreError};
use kitchen_domain::{Seq, TenantId, Version};
use serde_json::Value;

pub(crate) use errors::PgFailure;
pub(crate) use rows::{recorded_all, AggregateRow, EventRow};
pub(crate) use sql::{append_in_tx, load_in_tx, read_in_tx, rewrite_snapshot_in_tx, stream_events};

use super::tenant_tx::{in_tenant_tx, TxError};
use super::PgPool;
use sql::Views;

/// Maps a database error of a statement that is not an append.
pub(crate) fn classify_db_error(e: diesel::result::Error) -> StoreError {
    errors::classify(e, None)
}

/// The Postgres event store. Cheap to clone (shares the pool).
#[derive(Clone)]
pub struct PgEventStore {
    pool: PgPool,
    /// Always true, except in the benchmark's baseline (feature `bench`).
    read_models: bool,
}

impl std::fmt::Debug for PgEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgEventStore").finish_non_exhaustive()
    }
}

impl PgEventStore {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            read_models: true,
        }
    }

    /// A store whose appends skip the read models: ONLY the benchmark's
    /// "without projections" baseline builds it (feature `bench`, never set
    /// by a service), so no service can append without its views.
    #[cfg(feature = "bench")]
    pub fn without_read_models(mut self) -> Self {
        self.read_models = false;
        self
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl EventStore for PgEventStore {
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, aggregate_id = %stream.aggregate_id, expected = %expected, count = new_events.len()))]
    async fn append(
        &self,
        tenant: TenantId,
        stream: &StreamRef,
        expected: Version,
        new_events: Vec<NewEvent>,
        snapshot: Value,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        check_append(stream, &new_events)?;
        let views = if self.read_models {
            Views::Maintained
        } else {
            Views::Skipped
        };
        // No BEGIN/COMMIT around it: the one statement is its own transaction
        // and sets its tenant itself (one round trip instead of five).
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(|e| StoreError::Unavailable(Box::new(TxError::from(e))))?;
        sql::append_events(
            &mut conn,
            tenant,
            stream,
            expected,
            &new_events,
            &snapshot,
            views,
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, aggregate_id = %stream.aggregate_id))]
    async fn load(&self, tenant: TenantId, stream: &StreamRef) -> Result<LoadedStream, StoreError> {
        in_tenant_tx(&self.pool, tenant, |conn| {
            async move { Ok::<_, PgFailure>(load_in_tx(conn, tenant, stream).await?) }.scope_boxed()
        })
        .await
        .map_err(|f| f.into_store_error(None))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, after = %after, limit))]
    async fn read(
        &self,
        tenant: TenantId,
        after: Seq,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        check_read_limit(limit)?;
        in_tenant_tx(&self.pool, tenant, |conn| {
            async move { Ok::<_, PgFailure>(sql::read_in_tx(conn, tenant, after, limit).await?) }
                .scope_boxed()
        })
        .await
        .map_err(|f| f.into_store_error(None))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    async fn head(&self, tenant: TenantId) -> Result<Seq, StoreError> {
        in_tenant_tx(&self.pool, tenant, |conn| {
            async move { Ok::<_, PgFailure>(sql::head_in_tx(conn, tenant).await?) }.scope_boxed()
        })
        .await
        .map_err(|f| f.into_store_error(None))
    }
}
