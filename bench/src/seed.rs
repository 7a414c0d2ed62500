//! Bulk seeding of a tenant's log in SQL, as the worker, for the rows that
//! need a large log (6: hydration, 7: read models): far faster than appending
//! through the event store, and the same rows.

use anyhow::Context;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use kitchen_adapters::config::DbRole;
use kitchen_domain::{AggregateId, TenantId};
use kitchen_test_support::fixtures;
use secrecy::ExposeSecret;

use crate::env::Phase;

/// Events per INSERT statement.
const CHUNK: usize = 50_000;

/// Whether the seeded orders get snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Snapshots {
    /// At the last version and the current state shape, as the worker writes
    /// them (an older shape would be rebuilt from events on every read).
    Current,
    /// None: a log written before its projections or snapshots.
    None,
}

/// Seeds `orders` orders of `tenant` with `per_order` events each (seqs
/// gapless, interleaved across orders) and the tenant's sequence: OrderCreated,
/// one OrderStatusUpdated (placed -> confirmed), then OrderDue repeatedly. No
/// views are written.
pub async fn orders(
    phase: &Phase,
    tenant: TenantId,
    orders: usize,
    per_order: usize,
    snapshots: Snapshots,
) -> anyhow::Result<()> {
    let mut conn =
        AsyncPgConnection::establish(phase.db.url(DbRole::Worker).expose_secret()).await?;
    let template = AggregateId::new_random();
    let created = fixtures::order_created(template);
    let (payload, version) = (created.payload.to_string(), created.schema_version);
    let order_id = format!("md5('{tenant}' || n)::uuid");
    let versions_per_chunk = (CHUNK / orders).max(1);
    let mut first = 1;
    while first <= per_order {
        let last = (first + versions_per_chunk - 1).min(per_order);
        conn.batch_execute(&format!(
            "BEGIN; SELECT set_config('app.tenant_id', '{tenant}', true);
             INSERT INTO events (tenant_id, id, aggregate_type, aggregate_id, version, seq, type, schema_version, payload, causation_id, correlation_id)
             SELECT '{tenant}', gen_random_uuid(), 'order', {order_id}, v, (v - 1) * {orders} + n,
                    CASE v WHEN 1 THEN 'OrderCreated' WHEN 2 THEN 'OrderStatusUpdated' ELSE 'OrderDue' END,
                    CASE v WHEN 1 THEN {version} ELSE 1 END,
                    CASE v WHEN 1 THEN replace('{payload}', '{template}', ({order_id})::text)::jsonb
                           WHEN 2 THEN jsonb_build_object('orderId', {order_id}, 'from', 'placed', 'to', 'confirmed')
                           ELSE jsonb_build_object('orderId', {order_id}, 'scheduledFor', '2030-01-01T18:30:00Z') END,
                    gen_random_uuid(), gen_random_uuid()
             FROM generate_series({first}, {last}) v, generate_series(1, {orders}) n;
             COMMIT"
        ))
        .await
        .context("seeding events")?;
        first = last + 1;
    }
    let snapshot_rows = match snapshots {
        Snapshots::None => String::new(),
        Snapshots::Current => {
            let state_version =
                kitchen_domain::catalog::state_version("order").context("order state")?;
            let snapshot = fixtures::created_snapshot(template).to_string();
            format!(
                "INSERT INTO aggregates (tenant_id, id, type, snapshot, version, seq, schema_version)
                 SELECT '{tenant}', {order_id}, 'order', replace('{snapshot}', '{template}', ({order_id})::text)::jsonb,
                        {per_order}, ({per_order} - 1) * {orders} + n, {state_version}
                 FROM generate_series(1, {orders}) n;"
            )
        }
    };
    conn.batch_execute(&format!(
        "BEGIN; SELECT set_config('app.tenant_id', '{tenant}', true);
         {snapshot_rows}
         INSERT INTO tenant_sequences (tenant_id, last_seq) VALUES ('{tenant}', {orders} * {per_order});
         COMMIT; ANALYZE events; ANALYZE aggregates"
    ))
    .await
    .context("seeding the sequence and snapshots")?;
    Ok(())
}
