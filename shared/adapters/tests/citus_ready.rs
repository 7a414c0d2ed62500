//! The schema stays ready to be distributed by `tenant_id` (Citus; see
//! docs/scaling.md), read from PostgreSQL's own catalog after every migration,
//! so a table or function added later is covered:
//! - every primary key and unique constraint includes `tenant_id` (a
//!   distributed table can only enforce uniqueness within one shard);
//! - no foreign key crosses tenants (each one joins on `tenant_id`);
//! - every function takes the tenant (an input `uuid` named for it), is a row
//!   trigger, or is one of the audited cross-tenant functions listed here.

use diesel::sql_types::{Bool, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use kitchen_adapters::config::DbRole;
use kitchen_test_support::TestDb;
use secrecy::ExposeSecret;

/// Functions that work across tenants on purpose, each audited:
/// - `app_current_tenant()`: reads the transaction's tenant setting (what the
///   RLS policy compares with); it takes no tenant because it *is* the tenant.
/// - `due_commands(limit, stale_after)`: the pump's work list; returns only
///   `(tenant_id, id)` pairs (ADR 0002). On Citus it runs on every worker.
/// - `platform_tenants(after, limit)`: the platform admin's paged list of
///   households (`GET /v1/tenants`); lifecycle columns only (no users, no
///   events), executable by the gateway only, behind the platform token.
/// - `views_to_rebuild(projections, versions, every_tenant)`: the worker's
///   rebuild work list after a projection version change; returns
///   `(tenant_id, projection)` pairs only, executable by the worker only.
/// - `platform_load(cap, fresh_ms)`: the gateway's overload reading (issue
///   15); four numbers over all tenants (open commands, the oldest due
///   command's wait, the freshest pump heartbeat's age, the pumps' longest
///   head wait), no rows. On Citus, a sum and a
///   min/max over the workers.
const CROSS_TENANT_FUNCTIONS: &[&str] = &[
    "app_current_tenant",
    "due_commands",
    "platform_tenants",
    "views_to_rebuild",
    "platform_load",
];

/// Tables that hold platform data, no tenant's (a Citus reference table, not
/// distributed), each audited:
/// - `pump_heartbeats`: one row per live pump process (issue 15), read only
///   through `platform_load()`.
const PLATFORM_TABLES: &[&str] = &["pump_heartbeats"];

fn platform_tables_sql() -> String {
    PLATFORM_TABLES
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(QueryableByName, Debug)]
struct Finding {
    #[diesel(sql_type = Text)]
    what: String,
    #[diesel(sql_type = Bool)]
    ok: bool,
}

async fn findings(db: &TestDb, sql: &str) -> Vec<Finding> {
    let url = db.url(DbRole::Owner);
    let mut conn = AsyncPgConnection::establish(url.expose_secret())
        .await
        .unwrap();
    diesel::sql_query(sql).load(&mut conn).await.unwrap()
}

fn assert_all_ok(findings: &[Finding], rule: &str) {
    assert!(
        !findings.is_empty(),
        "{rule}: the catalog query found nothing to check"
    );
    let bad: Vec<&str> = findings
        .iter()
        .filter(|f| !f.ok)
        .map(|f| f.what.as_str())
        .collect();
    assert!(bad.is_empty(), "{rule}: {bad:?}");
}

#[tokio::test]
async fn every_key_includes_the_tenant_no_foreign_key_crosses_tenants_and_functions_are_scoped() {
    let db = TestDb::new().await.unwrap();

    let keys = findings(
        &db,
        &format!(
            "SELECT c.conrelid::regclass || '.' || c.conname AS what,
                EXISTS (SELECT 1 FROM pg_attribute a
                        WHERE a.attrelid = c.conrelid AND a.attname = 'tenant_id'
                          AND a.attnum = ANY (c.conkey)) AS ok
         FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
         WHERE n.nspname = 'public' AND c.contype IN ('p', 'u')
           AND c.conrelid::regclass::text NOT LIKE '%diesel_schema_migrations'
           AND c.conrelid::regclass::text NOT IN ({})",
            platform_tables_sql()
        ),
    )
    .await;
    assert_all_ok(
        &keys,
        "primary keys and unique constraints must include tenant_id",
    );

    // Unique indexes made without a constraint count too.
    let indexes = findings(
        &db,
        &format!(
            "SELECT i.indexrelid::regclass::text AS what,
                EXISTS (SELECT 1 FROM pg_attribute a
                        WHERE a.attrelid = i.indrelid AND a.attname = 'tenant_id'
                          AND a.attnum = ANY (i.indkey)) AS ok
         FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace
         WHERE n.nspname = 'public' AND i.indisunique
           AND t.relname NOT LIKE '%diesel_schema_migrations'
           AND t.relname NOT IN ({})",
            platform_tables_sql()
        ),
    )
    .await;
    assert_all_ok(&indexes, "unique indexes must include tenant_id");

    // Foreign keys: none today; any added must pair tenant_id with tenant_id.
    let foreign = findings(
        &db,
        "SELECT 'every foreign key' AS what,
                coalesce(bool_and(EXISTS (
                    SELECT 1 FROM unnest(c.conkey, c.confkey) AS k(local, remote)
                    JOIN pg_attribute la ON la.attrelid = c.conrelid AND la.attnum = k.local
                    JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = k.remote
                    WHERE la.attname = 'tenant_id' AND ra.attname = 'tenant_id')), true) AS ok
         FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
         WHERE n.nspname = 'public' AND c.contype = 'f'",
    )
    .await;
    assert_all_ok(&foreign, "foreign keys must join on tenant_id");

    let functions = findings(
        &db,
        &format!(
            "SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS what,
                    (p.prorettype = 'trigger'::regtype
                     OR EXISTS (SELECT 1 FROM unnest(p.proargnames, p.proargmodes,
                                                  coalesce(p.proallargtypes, p.proargtypes::oid[]))
                                         AS arg(name, mode, type)
                                WHERE arg.name LIKE '%tenant%' AND arg.type = 'uuid'::regtype
                                  AND coalesce(arg.mode, 'i') IN ('i', 'b'))
                     OR p.proname = ANY (ARRAY[{}])) AS ok
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'public'
               AND NOT EXISTS (SELECT 1 FROM pg_depend d
                               WHERE d.objid = p.oid AND d.deptype = 'e')",
            CROSS_TENANT_FUNCTIONS
                .iter()
                .map(|f| format!("'{f}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
    .await;
    assert_all_ok(
        &functions,
        "functions must take the tenant, be a trigger, or be an audited cross-tenant function",
    );
}
