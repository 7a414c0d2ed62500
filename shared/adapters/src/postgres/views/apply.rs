//! Applying projection changes, no read of the view by the caller: an
//! append's are computed here and bound to its one statement
//! (`append_events()`, migration 000043), a rebuild batch's applied by one
//! statement here. The changes come compacted from
//! the domain (one per key and projection), so each row is touched at most
//! once per statement.

use diesel::sql_types::{Array, BigInt, Integer, Jsonb, Text, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use kitchen_domain::ports::StoreError;
use kitchen_domain::projection::{Projection, ProjectionError, PROJECTIONS};
use kitchen_domain::{RecordedEvent, Seq, TenantId};
use serde_json::Value;

use crate::postgres::event_store::classify_db_error;
use crate::postgres::Prepared;

/// The end of the rebuild statement: applies the changes bound as `$6..$10`
/// (projection, key, kind, doc, seq) to the generations listed in `target`
/// (`append_events()` holds the same SQL for an append).
macro_rules! apply_changes {
    () => {
        "
change AS (
    SELECT c.projection, t.generation, c.key, c.kind, c.doc, c.seq
    FROM unnest($6::text[], $7::text[], $8::text[], $9::jsonb[], $10::int8[])
         AS c(projection, key, kind, doc, seq)
    JOIN target t ON t.projection = c.projection
), put AS (
    INSERT INTO view_rows (tenant_id, projection, generation, key, doc, seq)
    SELECT $1, projection, generation, key, doc, seq FROM change WHERE kind = 'put'
    ON CONFLICT (tenant_id, projection, generation, key)
        DO UPDATE SET doc = EXCLUDED.doc, seq = EXCLUDED.seq
), merged AS (
    UPDATE view_rows v SET doc = v.doc || c.doc, seq = c.seq
    FROM change c
    WHERE c.kind = 'merge' AND v.tenant_id = $1 AND v.projection = c.projection
      AND v.generation = c.generation AND v.key = c.key
), deleted AS (
    DELETE FROM view_rows v USING change c
    WHERE c.kind = 'delete' AND v.tenant_id = $1 AND v.projection = c.projection
      AND v.generation = c.generation AND v.key = c.key
)
SELECT count(*) AS applied FROM target"
    };
}

/// A rebuild batch: the BUILDING generation `$4` of `$3` moves from `$5` to
/// `$2` (only if it is still at `$5`: a stale runner's batch changes
/// nothing), and the changes go to it.
const BUILD_SQL: &str = concat!(
    "WITH target AS (
    UPDATE view_heads SET seq = $2, updated_at = now()
    WHERE tenant_id = $1 AND projection = $3 AND generation = $4 AND state = 'building'
      AND seq = $5
    RETURNING projection, generation
), ",
    apply_changes!()
);

#[derive(QueryableByName)]
struct Applied {
    #[diesel(sql_type = BigInt)]
    applied: i64,
}

/// The changes of several projections, as the array binds of the statements.
#[derive(Default)]
struct Binds {
    projections: Vec<&'static str>,
    keys: Vec<String>,
    kinds: Vec<&'static str>,
    docs: Vec<Value>,
    seqs: Vec<i64>,
}

impl Binds {
    fn add(
        &mut self,
        projection: &Projection,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        for change in projection.changes(events)? {
            self.projections.push(projection.name);
            self.kinds.push(change.op.kind());
            self.docs.push(change.op.doc());
            self.keys.push(change.key);
            self.seqs.push(change.seq.get());
        }
        Ok(())
    }
}

fn invalid(events: &[RecordedEvent], e: ProjectionError) -> StoreError {
    let index = events.iter().position(|x| x.seq == e.seq).unwrap_or(0);
    StoreError::InvalidEvent {
        index,
        source: e.source,
    }
}

/// What an append binds for its views (`append_events()`, migration 000043):
/// the projections this release runs, at their versions, and every change the
/// events make, each with the 0-based index of its event in the append (the
/// events' seqs are known only inside the statement, under the tenant's lock).
#[derive(Default)]
pub(crate) struct AppendChanges {
    pub(crate) names: Vec<&'static str>,
    pub(crate) versions: Vec<i32>,
    pub(crate) projections: Vec<&'static str>,
    pub(crate) keys: Vec<String>,
    pub(crate) kinds: Vec<&'static str>,
    pub(crate) docs: Vec<Value>,
    pub(crate) offsets: Vec<i64>,
}

/// The view changes of `events`, whose seqs are `1..=n` stand-ins for the
/// seqs the append will get (a projection reads the seq only to order).
/// The projections run before the one round trip of the append.
pub(crate) fn append_changes(events: &[RecordedEvent]) -> Result<AppendChanges, StoreError> {
    let mut binds = Binds::default();
    for projection in PROJECTIONS {
        binds
            .add(projection, events)
            .map_err(|e| invalid(events, e))?;
    }
    Ok(AppendChanges {
        names: PROJECTIONS.iter().map(|p| p.name).collect(),
        versions: PROJECTIONS.iter().map(|p| p.version).collect(),
        projections: binds.projections,
        keys: binds.keys,
        kinds: binds.kinds,
        docs: binds.docs,
        offsets: binds.seqs.into_iter().map(|seq| seq - 1).collect(),
    })
}

/// Applies `events` (upcast by the projection) to the building `generation`
/// of `projection` whose progress is `from`, recording `to` as the new
/// progress. Returns false when the head was not at `from` (another runner
/// moved it).
pub(crate) async fn apply_build(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    projection: &Projection,
    generation: i32,
    from: Seq,
    to: Seq,
    events: &[RecordedEvent],
) -> Result<bool, StoreError> {
    let mut binds = Binds::default();
    binds
        .add(projection, events)
        .map_err(|e| invalid(events, e))?;
    let applied: Applied = Prepared(
        diesel::sql_query(BUILD_SQL)
            .bind::<SqlUuid, _>(tenant.as_uuid())
            .bind::<BigInt, _>(to.get())
            .bind::<Text, _>(projection.name)
            .bind::<Integer, _>(generation)
            .bind::<BigInt, _>(from.get())
            .bind::<Array<Text>, _>(binds.projections)
            .bind::<Array<Text>, _>(binds.keys)
            .bind::<Array<Text>, _>(binds.kinds)
            .bind::<Array<Jsonb>, _>(binds.docs)
            .bind::<Array<BigInt>, _>(binds.seqs),
    )
    .get_result(conn)
    .await
    .map_err(classify_db_error)?;
    Ok(applied.applied == 1)
}
