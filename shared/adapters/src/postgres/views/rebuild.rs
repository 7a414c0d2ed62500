//! Rebuilding views without downtime, tenant by tenant (DESIGN.md 7b):
//!
//! 1. build a new generation of the view into shadow rows from the log, in
//!    batches, WITHOUT the tenant's append lock (appends keep going and keep
//!    the active generation current; readers keep reading it), recording the
//!    progress with each batch so an interrupted rebuild resumes there;
//! 2. catch up to the head UNDER the lock (`FOR UPDATE` of the tenant's
//!    `tenant_sequences` row, the lock every append takes): only the events
//!    that arrived since the last batch, so appends wait only that long;
//! 3. in that same short transaction retire the old generation and activate
//!    the new one: readers switch atomically at a seq where both agree;
//! 4. delete the retired rows afterwards, outside the lock.
//!
//! One runner at a time: every replica of the worker sees a version change at
//! startup, so the runner holds a session advisory lock; a second one either
//! skips (startup: the first does the work) or waits (the admin command).

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Text, Uuid as SqlUuid};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use kitchen_domain::ports::StoreError;
use kitchen_domain::projection::{projection, Projection, PROJECTIONS};
use kitchen_domain::{Seq, TenantId};

use super::apply::apply_build;
use crate::postgres::event_store::{read_in_tx, PgFailure};
use crate::postgres::schema::{tenant_sequences, view_heads, view_rows};
use crate::postgres::tenant_tx::{in_tenant_tx, TxError};
use crate::postgres::PgPool;

/// The advisory lock key of the rebuild runner ("views" in ASCII).
const RUNNER_LOCK: i64 = 0x0076_6965_7773;

/// What to rebuild.
#[derive(Debug, Clone)]
pub enum RebuildScope {
    /// Every (tenant, projection) whose active view was not built by this
    /// release's projection version (found at startup).
    VersionChanges,
    /// One projection, even at the same version (the admin command): every
    /// tenant with events, or one.
    Forced {
        projection: &'static Projection,
        tenant: Option<TenantId>,
    },
}

/// What a second runner does while one holds the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenLocked {
    /// Return at once: the running one does the work (startup).
    Skip,
    /// Wait for it, then run (an operator asked for this rebuild).
    Wait,
}

/// Tuning of a run.
#[derive(Debug, Clone, Copy)]
pub struct RebuildOptions {
    /// Events read and applied per batch (each batch one transaction).
    pub batch: u32,
    pub when_locked: WhenLocked,
}

impl Default for RebuildOptions {
    fn default() -> Self {
        Self {
            batch: 5_000,
            when_locked: WhenLocked::Skip,
        }
    }
}

/// One view rebuilt.
#[derive(Debug, Clone, PartialEq)]
pub struct RebuiltView {
    pub tenant: TenantId,
    pub projection: &'static str,
    pub generation: i32,
    /// Events applied outside the lock, and under it.
    pub built_events: i64,
    pub caught_up_events: i64,
    /// How long the tenant's appends could wait: the catch-up transaction.
    pub lock_held: Duration,
    pub took: Duration,
    /// Whether it continued a generation an earlier run had started.
    pub resumed: bool,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub enum RebuildOutcome {
    /// This runner held the lock; these views were rebuilt (maybe none).
    Ran(Vec<RebuiltView>),
    /// Another runner holds the lock (with [`WhenLocked::Skip`]).
    AnotherRunnerHoldsTheLock,
}

/// Progress, for the admin command's output and the logs.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    Started {
        views: usize,
    },
    Batch {
        tenant: TenantId,
        projection: &'static str,
        seq: Seq,
        head: Seq,
    },
    Switched(RebuiltView),
}

/// Why a rebuild stopped. Everything it committed stays: a new run resumes.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the rebuild of {projection} for tenant {tenant} was moved on by another runner")]
    Interfered {
        tenant: TenantId,
        projection: &'static str,
    },
    #[error("cannot connect for the runner lock")]
    Connect(#[source] diesel::ConnectionError),
    #[error("database error")]
    Database(#[from] diesel::result::Error),
    #[error(transparent)]
    Transaction(#[from] TxError),
}

impl From<PgFailure> for RebuildError {
    fn from(f: PgFailure) -> Self {
        RebuildError::Store(f.into_store_error(None))
    }
}

/// Runs the rebuild of `scope` (see the module docs). `url` opens the
/// dedicated session that holds the runner lock (it ends with the session,
/// also when the process dies); `pool` does the work. Both as the worker.
pub async fn rebuild(
    url: &secrecy::SecretString,
    pool: &PgPool,
    scope: RebuildScope,
    options: RebuildOptions,
    mut progress: impl FnMut(Progress) + Send,
) -> Result<RebuildOutcome, RebuildError> {
    let mut lock = crate::postgres::tls::establish(secrecy::ExposeSecret::expose_secret(url))
        .await
        .map_err(RebuildError::Connect)?;
    if !take_runner_lock(&mut lock, options.when_locked).await? {
        tracing::info!("another runner is rebuilding views; leaving it the work");
        return Ok(RebuildOutcome::AnotherRunnerHoldsTheLock);
    }
    let work = work_list(&mut lock, &scope).await?;
    progress(Progress::Started { views: work.len() });
    let mut rebuilt = Vec::with_capacity(work.len());
    for (tenant, projection) in work {
        let view = rebuild_view(pool, tenant, projection, options.batch, &mut progress).await?;
        tracing::info!(tenant_id = %tenant, view = projection.name, generation = view.generation,
            events = view.built_events + view.caught_up_events, lock_held_ms = view.lock_held.as_millis() as u64,
            "view rebuilt");
        progress(Progress::Switched(view.clone()));
        rebuilt.push(view);
    }
    // The session's end releases it too; say so explicitly when all went well.
    diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(RUNNER_LOCK)
        .execute(&mut lock)
        .await?;
    Ok(RebuildOutcome::Ran(rebuilt))
}

async fn take_runner_lock(
    conn: &mut AsyncPgConnection,
    when_locked: WhenLocked,
) -> Result<bool, diesel::result::Error> {
    #[derive(QueryableByName)]
    struct Locked {
        #[diesel(sql_type = Bool)]
        locked: bool,
    }
    let sql = match when_locked {
        WhenLocked::Skip => "SELECT pg_try_advisory_lock($1) AS locked",
        WhenLocked::Wait => "SELECT true AS locked FROM pg_advisory_lock($1)",
    };
    let locked: Locked = diesel::sql_query(sql)
        .bind::<BigInt, _>(RUNNER_LOCK)
        .get_result(conn)
        .await?;
    Ok(locked.locked)
}

/// The (tenant, projection) pairs to rebuild, from `views_to_rebuild()`.
async fn work_list(
    conn: &mut AsyncPgConnection,
    scope: &RebuildScope,
) -> Result<Vec<(TenantId, &'static Projection)>, RebuildError> {
    #[derive(QueryableByName)]
    struct Work {
        #[diesel(sql_type = SqlUuid)]
        tenant_id: uuid::Uuid,
        #[diesel(sql_type = Text)]
        projection: String,
    }
    let (targets, every_tenant): (Vec<&Projection>, bool) = match scope {
        RebuildScope::VersionChanges => (PROJECTIONS.iter().collect(), false),
        RebuildScope::Forced { projection, .. } => (vec![*projection], true),
    };
    let rows: Vec<Work> =
        diesel::sql_query("SELECT tenant_id, projection FROM views_to_rebuild($1, $2, $3)")
            .bind::<Array<Text>, _>(targets.iter().map(|p| p.name).collect::<Vec<_>>())
            .bind::<Array<Integer>, _>(targets.iter().map(|p| p.version).collect::<Vec<_>>())
            .bind::<Bool, _>(every_tenant)
            .load(conn)
            .await?;
    let only = match scope {
        RebuildScope::Forced { tenant, .. } => *tenant,
        RebuildScope::VersionChanges => None,
    };
    rows.into_iter()
        .filter(|w| only.is_none_or(|t| t.as_uuid() == w.tenant_id))
        .map(|w| {
            let tenant = TenantId::from_uuid(w.tenant_id)
                .map_err(|e| StoreError::CorruptRow(e.to_string()))?;
            let projection = projection(&w.projection)
                .ok_or_else(|| StoreError::CorruptRow(format!("no projection {}", w.projection)))?;
            Ok((tenant, projection))
        })
        .collect()
}

/// The generation this run builds: a building one of this version (an
/// interrupted run's, resumed at its seq), else a new one. Building
/// generations of other versions are abandoned (retired).
async fn start_generation(
    pool: &PgPool,
    tenant: TenantId,
    projection: &'static Projection,
) -> Result<(i32, Seq, bool), RebuildError> {
    let found = in_tenant_tx(pool, tenant, |conn| {
        async move {
            diesel::update(view_heads::table)
                .filter(view_heads::tenant_id.eq(tenant.as_uuid()))
                .filter(view_heads::projection.eq(projection.name))
                .filter(view_heads::state.eq("building"))
                .filter(view_heads::version.ne(projection.version))
                .set(view_heads::state.eq("retired"))
                .execute(conn)
                .await?;
            let building: Option<(i32, i64)> = view_heads::table
                .filter(view_heads::tenant_id.eq(tenant.as_uuid()))
                .filter(view_heads::projection.eq(projection.name))
                .filter(view_heads::state.eq("building"))
                .select((view_heads::generation, view_heads::seq))
                .first(conn)
                .await
                .optional()?;
            if let Some((generation, seq)) = building {
                return Ok::<_, PgFailure>((generation, seq, true));
            }
            let last: Option<i32> = view_heads::table
                .filter(view_heads::tenant_id.eq(tenant.as_uuid()))
                .filter(view_heads::projection.eq(projection.name))
                .select(diesel::dsl::max(view_heads::generation))
                .first(conn)
                .await?;
            let generation = last.unwrap_or(0) + 1;
            diesel::insert_into(view_heads::table)
                .values((
                    view_heads::tenant_id.eq(tenant.as_uuid()),
                    view_heads::projection.eq(projection.name),
                    view_heads::generation.eq(generation),
                    view_heads::version.eq(projection.version),
                    view_heads::state.eq("building"),
                    view_heads::seq.eq(0),
                ))
                .execute(conn)
                .await?;
            Ok((generation, 0, false))
        }
        .scope_boxed()
    })
    .await?;
    let (generation, seq, resumed) = found;
    Ok((
        generation,
        Seq::new(seq).map_err(|e| StoreError::CorruptRow(e.to_string()))?,
        resumed,
    ))
}

/// Applies the events after `from` (at most `limit`) to the building
/// generation; returns the new progress and how many were applied.
async fn build_batch(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    projection: &'static Projection,
    generation: i32,
    from: Seq,
    limit: u32,
) -> Result<(Seq, i64), RebuildError> {
    let events = read_in_tx(conn, tenant, from, limit).await?;
    let Some(last) = events.last() else {
        return Ok((from, 0));
    };
    let to = last.seq;
    if !apply_build(conn, tenant, projection, generation, from, to, &events).await? {
        return Err(RebuildError::Interfered {
            tenant,
            projection: projection.name,
        });
    }
    Ok((to, events.len() as i64))
}

async fn log_head(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    lock: bool,
) -> Result<Seq, RebuildError> {
    let query = tenant_sequences::table
        .filter(tenant_sequences::tenant_id.eq(tenant.as_uuid()))
        .select(tenant_sequences::last_seq);
    let head: Option<i64> = if lock {
        query.for_update().first(conn).await.optional()?
    } else {
        query.first(conn).await.optional()?
    };
    Seq::new(head.unwrap_or(0)).map_err(|e| StoreError::CorruptRow(e.to_string()).into())
}

/// Rebuilds one view of one tenant (steps 1-4 of the module docs).
async fn rebuild_view(
    pool: &PgPool,
    tenant: TenantId,
    projection: &'static Projection,
    batch: u32,
    progress: &mut (impl FnMut(Progress) + Send),
) -> Result<RebuiltView, RebuildError> {
    let started = Instant::now();
    let (generation, mut seq, resumed) = start_generation(pool, tenant, projection).await?;
    let mut built_events = 0;
    // 1. Shadow rows, batch by batch, without the lock.
    loop {
        let (to, n, head) = in_tenant_tx(pool, tenant, |conn| {
            async move {
                let head = log_head(conn, tenant, false).await?;
                let (to, n) = build_batch(conn, tenant, projection, generation, seq, batch).await?;
                Ok::<_, RebuildError>((to, n, head))
            }
            .scope_boxed()
        })
        .await?;
        seq = to;
        built_events += n;
        progress(Progress::Batch {
            tenant,
            projection: projection.name,
            seq,
            head,
        });
        if n < i64::from(batch) {
            break;
        }
    }
    // 2 + 3. Catch up under the tenant's lock and switch, in one transaction.
    let (caught_up_events, locked_at) = in_tenant_tx(pool, tenant, |conn| {
        async move {
            let head = log_head(conn, tenant, true).await?;
            let locked_at = Instant::now();
            let mut caught_up = 0;
            while seq < head {
                let (to, n) = build_batch(conn, tenant, projection, generation, seq, batch).await?;
                seq = to;
                caught_up += n;
            }
            switch(conn, tenant, projection, generation).await?;
            Ok::<_, RebuildError>((caught_up, locked_at))
        }
        .scope_boxed()
    })
    .await?;
    // From taking the lock to the commit that released it.
    let lock_held = locked_at.elapsed();
    // 4. The retired rows go, outside the lock.
    clean_retired(pool, tenant, projection).await?;
    Ok(RebuiltView {
        tenant,
        projection: projection.name,
        generation,
        built_events,
        caught_up_events,
        lock_held,
        took: started.elapsed(),
        resumed,
    })
}

/// Retires the active generation and activates `generation` (in this order:
/// at most one is active at any moment).
async fn switch(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    projection: &'static Projection,
    generation: i32,
) -> Result<(), RebuildError> {
    let heads = view_heads::table
        .filter(view_heads::tenant_id.eq(tenant.as_uuid()))
        .filter(view_heads::projection.eq(projection.name));
    diesel::update(heads.filter(view_heads::state.eq("active")))
        .set((
            view_heads::state.eq("retired"),
            view_heads::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    let switched = diesel::update(
        heads
            .filter(view_heads::generation.eq(generation))
            .filter(view_heads::state.eq("building")),
    )
    .set((
        view_heads::state.eq("active"),
        view_heads::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
    .await?;
    if switched != 1 {
        return Err(RebuildError::Interfered {
            tenant,
            projection: projection.name,
        });
    }
    Ok(())
}

/// Deletes the rows and heads of retired generations.
async fn clean_retired(
    pool: &PgPool,
    tenant: TenantId,
    projection: &'static Projection,
) -> Result<(), RebuildError> {
    in_tenant_tx(pool, tenant, |conn| {
        async move {
            let retired: Vec<i32> = view_heads::table
                .filter(view_heads::tenant_id.eq(tenant.as_uuid()))
                .filter(view_heads::projection.eq(projection.name))
                .filter(view_heads::state.eq("retired"))
                .select(view_heads::generation)
                .load(conn)
                .await?;
            diesel::delete(
                view_rows::table
                    .filter(view_rows::tenant_id.eq(tenant.as_uuid()))
                    .filter(view_rows::projection.eq(projection.name))
                    .filter(view_rows::generation.eq_any(&retired)),
            )
            .execute(conn)
            .await?;
            diesel::delete(
                view_heads::table
                    .filter(view_heads::tenant_id.eq(tenant.as_uuid()))
                    .filter(view_heads::projection.eq(projection.name))
                    .filter(view_heads::generation.eq_any(&retired)),
            )
            .execute(conn)
            .await?;
            Ok::<_, RebuildError>(())
        }
        .scope_boxed()
    })
    .await
}

/// How long a replica waits before trying a failed startup rebuild again.
const STARTUP_RETRY: Duration = Duration::from_secs(10);

/// The startup check every worker replica runs in the background: rebuild
/// the views whose projection version changed. With several replicas, the
/// first to take the runner lock does the work and the others return; a
/// failure (Postgres not up yet, say) is retried until `shutdown`, and a run
/// cut by shutdown resumes at the next start. The worker runs it because it
/// is the role that writes views, it runs this release's projections on every
/// append, and it is not on the request path.
pub async fn rebuild_at_startup(
    url: secrecy::SecretString,
    pool: PgPool,
    shutdown: crate::shutdown::Shutdown,
) -> Option<RebuildOutcome> {
    loop {
        let run = rebuild(
            &url,
            &pool,
            RebuildScope::VersionChanges,
            RebuildOptions::default(),
            |p| match p {
                Progress::Started { views } if views > 0 => {
                    tracing::info!(views, "rebuilding views of a changed projection version")
                }
                _ => {}
            },
        );
        let result = tokio::select! {
            result = run => result,
            () = shutdown.wait() => {
                tracing::info!("view rebuild stopped by shutdown; the next start resumes it");
                return None;
            }
        };
        match result {
            Ok(outcome) => return Some(outcome),
            Err(e) => {
                tracing::warn!(cause = %e, retry_in = ?STARTUP_RETRY, "view rebuild failed");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(STARTUP_RETRY) => {}
            () = shutdown.wait() => return None,
        }
    }
}
