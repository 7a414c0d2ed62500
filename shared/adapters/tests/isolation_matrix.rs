//! Tenant isolation and least privilege, proven on the real PostgreSQL:
//! for every service role and every tenant table, with tenant A set nothing of
//! tenant B can be read, inserted, updated or deleted; with no tenant set nothing
//! is visible; and each role can do exactly what its service needs, no more.

use diesel::sql_types::BigInt;
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use kitchen_adapters::config::DbRole;
use kitchen_test_support::TestDb;
use secrecy::ExposeSecret;
use uuid::Uuid;

const TABLES: [&str; 12] = [
    "tenants",
    "users",
    // After `users`: each token belongs to a user of its tenant.
    "refresh_tokens",
    "menu_items",
    "commands",
    "tenant_sequences",
    "events",
    "aggregates",
    // Tenant lifecycle (migration 000015).
    "tenant_admin_secrets",
    "tenant_exports",
    "view_heads",
    "view_rows",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Select,
    Insert,
    Update,
    Delete,
}
use Op::*;

/// What each role may do to its own tenant's rows (migration 000004).
fn allowed(role: DbRole, table: &str, op: Op) -> bool {
    let ops: &[Op] = match (role, table) {
        (DbRole::Gateway, "commands") => &[Select, Insert],
        // Login (migration 2026-11-25-000012): users' hashes, refresh tokens.
        (DbRole::Gateway, "users") => &[Select, Insert, Update, Delete],
        (DbRole::Gateway, "refresh_tokens") => &[Select, Insert, Update],
        (
            DbRole::Gateway,
            "events" | "aggregates" | "tenant_sequences" | "tenants" | "menu_items",
        ) => &[Select],
        (DbRole::Pump, "commands") => &[Select, Update],
        (DbRole::Worker, "commands") => &[Select, Update],
        (DbRole::Worker, "events") => &[Select, Insert],
        (DbRole::Worker, "aggregates" | "tenant_sequences") => &[Select, Insert, Update],
        (DbRole::Worker, "tenants" | "users" | "menu_items") => &[Select, Insert, Update, Delete],
        (DbRole::Realtime, "events" | "tenant_sequences" | "tenants") => &[Select],
        // Outcome frames (migration 2026-11-25-000030): the outcome columns
        // only (the next test checks which).
        (DbRole::Realtime, "commands") => &[Select],
        // Tenant lifecycle (migration 000015): the gateway stores the admin's
        // hash with the command and serves the export; the worker reads and
        // scrubs the hash and writes the export.
        (DbRole::Gateway, "tenant_admin_secrets") => &[Insert],
        (DbRole::Gateway, "tenant_exports") => &[Select],
        (DbRole::Worker, "tenant_admin_secrets") => &[Select, Delete],
        (DbRole::Worker, "tenant_exports") => &[Select, Insert, Delete],
        // Read models (migration 2026-11-25-000020): the gateway reads them,
        // the worker maintains and rebuilds them.
        (DbRole::Gateway, "view_heads" | "view_rows") => &[Select],
        (DbRole::Worker, "view_heads" | "view_rows") => &[Select, Insert, Update, Delete],
        _ => &[],
    };
    ops.contains(&op)
}

/// An INSERT of a fresh row of `table` for `tenant`.
fn insert_sql(table: &str, tenant: Uuid) -> String {
    let id = Uuid::new_v4();
    match table {
        "tenants" => format!("INSERT INTO tenants (tenant_id, name) VALUES ('{tenant}', 'home')"),
        "users" => format!(
            "INSERT INTO users (tenant_id, id, email, display_name) VALUES ('{tenant}', '{id}', '{id}@example.com', 'Sam')"
        ),
        "refresh_tokens" => format!(
            "INSERT INTO refresh_tokens (tenant_id, id, family_id, user_id, token_hash, expires_at)
             VALUES ('{tenant}', '{id}', '{id}', coalesce((SELECT u.id FROM users u LIMIT 1), '{id}'), '{id}', now() + interval '1 day')"
        ),
        "menu_items" => format!("INSERT INTO menu_items (tenant_id, id, name) VALUES ('{tenant}', '{id}', 'soup')"),
        "commands" => format!(
            "INSERT INTO commands (tenant_id, id, type, payload, aggregate_id, correlation_id)
             VALUES ('{tenant}', '{id}', 'createOrder', '{{}}', '{id}', '{id}')"
        ),
        "tenant_sequences" => format!("INSERT INTO tenant_sequences (tenant_id, last_seq) VALUES ('{tenant}', 0)"),
        "events" => format!(
            "INSERT INTO events (tenant_id, id, aggregate_type, aggregate_id, version, seq, type, payload, causation_id, correlation_id)
             VALUES ('{tenant}', '{id}', 'order', '{id}', 1, {}, 'OrderCreated', '{{}}', '{id}', '{id}')",
            (id.as_u128() % 1_000_000_000) as i64 + 1
        ),
        "aggregates" => format!(
            "INSERT INTO aggregates (tenant_id, id, type, snapshot, version, seq) VALUES ('{tenant}', '{id}', 'order', '{{}}', 1, 1)"
        ),
        "tenant_admin_secrets" => format!(
            "INSERT INTO tenant_admin_secrets (tenant_id, command_id, password_hash) VALUES ('{tenant}', '{id}', '$argon2id$v=19$x')"
        ),
        "tenant_exports" => format!(
            "INSERT INTO tenant_exports (tenant_id, line_no, line) VALUES ('{tenant}', {}, '{{}}')",
            (id.as_u128() % 1_000_000_000) as i64
        ),
        "view_heads" => format!(
            "INSERT INTO view_heads (tenant_id, projection, generation, version, state, seq) VALUES ('{tenant}', '{id}', 1, 1, 'building', 0)"
        ),
        "view_rows" => format!(
            "INSERT INTO view_rows (tenant_id, projection, generation, key, doc, seq) VALUES ('{tenant}', 'orderBoard', 1, '{id}', '{{}}', 1)"
        ),
        other => panic!("no insert for {other}"),
    }
}

/// An UPDATE that changes nothing but needs the UPDATE privilege.
fn update_sql(table: &str, tenant: Uuid) -> String {
    let column = match table {
        "tenants" | "menu_items" => "name",
        // The column the gateway may update (a user's own password).
        "users" => "password_hash",
        "refresh_tokens" => "revoked_at",
        "commands" => "status",
        "tenant_sequences" => "last_seq",
        "events" => "type",
        "aggregates" => "version",
        "tenant_admin_secrets" => "password_hash",
        "tenant_exports" => "line",
        "view_heads" | "view_rows" => "seq",
        other => panic!("no update for {other}"),
    };
    format!("UPDATE {table} SET {column} = {column} WHERE tenant_id = '{tenant}'")
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(Debug)]
enum Outcome {
    Rows(usize),
    Denied(String),
}

/// Runs `sql` in a transaction with `tenant` set (or none), then rolls back.
async fn attempt(
    conn: &mut AsyncPgConnection,
    tenant: Option<Uuid>,
    sql: &str,
    is_count: bool,
) -> Outcome {
    conn.batch_execute("BEGIN").await.unwrap();
    if let Some(tenant) = tenant {
        conn.batch_execute(&format!(
            "SELECT set_config('app.tenant_id', '{tenant}', true)"
        ))
        .await
        .unwrap();
    }
    let result = if is_count {
        diesel::sql_query(sql)
            .get_result::<Count>(conn)
            .await
            .map(|c| c.n as usize)
    } else {
        diesel::sql_query(sql).execute(conn).await
    };
    conn.batch_execute("ROLLBACK").await.unwrap();
    match result {
        Ok(n) => Outcome::Rows(n),
        Err(e) => Outcome::Denied(e.to_string()),
    }
}

fn is_denied(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Denied(m) if m.contains("permission denied") || m.contains("row-level security"))
}

async fn connect(db: &TestDb, role: DbRole) -> AsyncPgConnection {
    AsyncPgConnection::establish(db.url(role).expose_secret())
        .await
        .unwrap()
}

/// A digest of every row of `tenant`, read by the owner (also bound by RLS).
async fn fingerprint(owner: &mut AsyncPgConnection, tenant: Uuid) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Digest {
        #[diesel(sql_type = diesel::sql_types::Text)]
        digest: String,
    }
    let mut digests = Vec::new();
    conn_begin_as(owner, tenant).await;
    for table in TABLES {
        let d: Digest = diesel::sql_query(format!(
            "SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), 'empty') AS digest FROM {table} t"
        ))
        .get_result(owner)
        .await
        .unwrap();
        digests.push(format!("{table}:{}", d.digest));
    }
    owner.batch_execute("COMMIT").await.unwrap();
    digests
}

async fn conn_begin_as(conn: &mut AsyncPgConnection, tenant: Uuid) {
    conn.batch_execute(&format!(
        "BEGIN; SELECT set_config('app.tenant_id', '{tenant}', true)"
    ))
    .await
    .unwrap();
}

/// Seeds one row per table for `tenant`, as the owner.
async fn seed(owner: &mut AsyncPgConnection, tenant: Uuid) {
    conn_begin_as(owner, tenant).await;
    for table in TABLES {
        owner
            .batch_execute(&insert_sql(table, tenant))
            .await
            .unwrap();
    }
    owner.batch_execute("COMMIT").await.unwrap();
}

#[tokio::test]
async fn no_role_can_touch_another_tenants_rows_and_each_has_least_privilege() {
    let db = TestDb::new().await.unwrap();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let mut owner = connect(&db, DbRole::Owner).await;
    seed(&mut owner, a).await;
    seed(&mut owner, b).await;
    let before = (
        fingerprint(&mut owner, a).await,
        fingerprint(&mut owner, b).await,
    );
    assert!(
        before.1.iter().all(|d| !d.ends_with("empty")),
        "B has a row everywhere"
    );

    let mut failures = Vec::new();
    let mut checks = 0;
    for role in DbRole::SERVICES {
        let mut conn = connect(&db, role).await;
        for table in TABLES {
            let mut check = |ok: bool, what: String| {
                checks += 1;
                if !ok {
                    failures.push(format!("{} on {table}: {what}", role.role_name()));
                }
            };
            // Own tenant: exactly the privileges the service needs.
            let own = [
                (
                    Select,
                    attempt(
                        &mut conn,
                        Some(a),
                        &format!("SELECT count(*) AS n FROM {table}"),
                        true,
                    )
                    .await,
                ),
                // Tables keyed by tenant alone already hold A's row: don't trip on it.
                (
                    Insert,
                    attempt(
                        &mut conn,
                        Some(a),
                        &format!("{} ON CONFLICT DO NOTHING", insert_sql(table, a)),
                        false,
                    )
                    .await,
                ),
                (
                    Update,
                    attempt(&mut conn, Some(a), &update_sql(table, a), false).await,
                ),
                (
                    Delete,
                    attempt(
                        &mut conn,
                        Some(a),
                        &format!("DELETE FROM {table} WHERE tenant_id = '{a}'"),
                        false,
                    )
                    .await,
                ),
            ];
            for (op, outcome) in own {
                let want = allowed(role, table, op);
                let ok = match (&outcome, want) {
                    (Outcome::Rows(n), true) => op == Insert || *n == 1,
                    (outcome, false) => is_denied(outcome),
                    _ => false,
                };
                check(
                    ok,
                    format!("{op:?} own tenant: want allowed={want}, got {outcome:?}"),
                );
            }
            // Tenant B, with A set: invisible and untouchable.
            let read_b = attempt(
                &mut conn,
                Some(a),
                &format!("SELECT count(*) AS n FROM {table} WHERE tenant_id = '{b}'"),
                true,
            )
            .await;
            check(
                matches!(read_b, Outcome::Rows(0)) || is_denied(&read_b),
                format!("read B: {read_b:?}"),
            );
            let insert_b = attempt(&mut conn, Some(a), &insert_sql(table, b), false).await;
            check(is_denied(&insert_b), format!("insert B: {insert_b:?}"));
            let update_b = attempt(&mut conn, Some(a), &update_sql(table, b), false).await;
            check(
                matches!(update_b, Outcome::Rows(0)) || is_denied(&update_b),
                format!("update B: {update_b:?}"),
            );
            let delete_b = attempt(
                &mut conn,
                Some(a),
                &format!("DELETE FROM {table} WHERE tenant_id = '{b}'"),
                false,
            )
            .await;
            check(
                matches!(delete_b, Outcome::Rows(0)) || is_denied(&delete_b),
                format!("delete B: {delete_b:?}"),
            );
            // No tenant set: nothing visible, nothing writable.
            let read_none = attempt(
                &mut conn,
                None,
                &format!("SELECT count(*) AS n FROM {table}"),
                true,
            )
            .await;
            check(
                matches!(read_none, Outcome::Rows(0)) || is_denied(&read_none),
                format!("read without tenant: {read_none:?}"),
            );
            let insert_none = attempt(&mut conn, None, &insert_sql(table, a), false).await;
            check(
                is_denied(&insert_none),
                format!("insert without tenant: {insert_none:?}"),
            );
            // A tenant id that is not a UUID is an error, never "all rows".
            let garbage = attempt(&mut conn, None, &format!(
                "SELECT count(*) AS n FROM {table} WHERE set_config('app.tenant_id', 'x'' OR true', true) IS NOT NULL"
            ), true).await;
            check(
                !matches!(garbage, Outcome::Rows(n) if n > 0),
                format!("garbage tenant: {garbage:?}"),
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checks} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let after = (
        fingerprint(&mut owner, a).await,
        fingerprint(&mut owner, b).await,
    );
    assert_eq!(before, after, "no row of A or B changed");
    println!("isolation matrix: {checks} checks passed");
}

#[tokio::test]
async fn the_pump_cannot_read_payloads_and_only_it_may_list_due_commands() {
    let db = TestDb::new().await.unwrap();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let mut owner = connect(&db, DbRole::Owner).await;
    seed(&mut owner, a).await;
    seed(&mut owner, b).await;

    let mut pump = connect(&db, DbRole::Pump).await;
    for column in ["payload", "user_id", "metadata", "error", "result_seqs"] {
        let outcome = attempt(
            &mut pump,
            Some(a),
            &format!("SELECT count({column}) AS n FROM commands"),
            true,
        )
        .await;
        assert!(is_denied(&outcome), "pump read {column}: {outcome:?}");
    }
    #[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
    struct Due {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        tenant_id: Uuid,
    }
    // Without any tenant set, the work list names both tenants' commands (ids only).
    let mut due: Vec<Due> =
        diesel::sql_query("SELECT tenant_id FROM due_commands(10, interval '1 minute')")
            .load(&mut pump)
            .await
            .unwrap();
    due.sort();
    let mut want = vec![Due { tenant_id: a }, Due { tenant_id: b }];
    want.sort();
    assert_eq!(due, want);
    // The function's result has no payload column to leak.
    let err =
        diesel::sql_query("SELECT payload::text AS n FROM due_commands(10, interval '1 minute')")
            .execute(&mut pump)
            .await
            .unwrap_err();
    assert!(err.to_string().contains("payload"), "{err}");

    for role in [DbRole::Gateway, DbRole::Worker, DbRole::Realtime] {
        let mut conn = connect(&db, role).await;
        let outcome = attempt(
            &mut conn,
            None,
            "SELECT count(*) AS n FROM due_commands(10, interval '1 minute')",
            true,
        )
        .await;
        assert!(
            is_denied(&outcome),
            "{} may not list due commands: {outcome:?}",
            role.role_name()
        );
    }
}

#[tokio::test]
async fn realtime_reads_only_the_outcome_columns_of_its_tenants_commands() {
    let db = TestDb::new().await.unwrap();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let mut owner = connect(&db, DbRole::Owner).await;
    seed(&mut owner, a).await;
    seed(&mut owner, b).await;
    let mut realtime = connect(&db, DbRole::Realtime).await;
    for column in ["tenant_id", "id", "type", "status", "error", "result_seqs"] {
        let outcome = attempt(
            &mut realtime,
            Some(a),
            // Null or not (`error` is null here): the row is counted only
            // when the column may be read.
            &format!(
                "SELECT count(*) AS n FROM commands WHERE {column} IS NULL OR {column} IS NOT NULL"
            ),
            true,
        )
        .await;
        assert!(
            matches!(outcome, Outcome::Rows(1)),
            "realtime reads {column} of its tenant's one command: {outcome:?}"
        );
    }
    for column in [
        "payload",
        "user_id",
        "metadata",
        "aggregate_id",
        "correlation_id",
        "workflow_id",
    ] {
        let outcome = attempt(
            &mut realtime,
            Some(a),
            &format!("SELECT count({column}) AS n FROM commands"),
            true,
        )
        .await;
        assert!(is_denied(&outcome), "realtime read {column}: {outcome:?}");
    }
    // And never another tenant's, nor any without a tenant set.
    for (tenant, sql) in [
        (
            Some(a),
            format!("SELECT count(status) AS n FROM commands WHERE tenant_id = '{b}'"),
        ),
        (None, "SELECT count(status) AS n FROM commands".to_owned()),
    ] {
        let outcome = attempt(&mut realtime, tenant, &sql, true).await;
        assert!(matches!(outcome, Outcome::Rows(0)), "{sql}: {outcome:?}");
    }
}

#[tokio::test]
async fn realtimes_one_statement_read_returns_the_named_tenants_events_only_and_leaves_nothing_set()
{
    let db = TestDb::new().await.unwrap();
    let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut owner = connect(&db, DbRole::Owner).await;
    seed(&mut owner, a).await;
    seed(&mut owner, b).await;
    let mut realtime = connect(&db, DbRole::Realtime).await;

    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        tenant_id: Uuid,
    }
    // Outside a transaction (as realtime calls it) and inside one set to
    // another tenant: only the named tenant's rows, all of them (one each).
    for (named, set) in [(a, None), (b, None), (a, Some(b)), (c, Some(a))] {
        if let Some(set) = set {
            conn_begin_as(&mut realtime, set).await;
        }
        let rows: Vec<Row> = diesel::sql_query(format!(
            "SELECT tenant_id FROM stream_events_after('{named}', 0, 1000)"
        ))
        .load(&mut realtime)
        .await
        .unwrap();
        if set.is_some() {
            realtime.batch_execute("ROLLBACK").await.unwrap();
        }
        let expected = usize::from(named != c);
        assert_eq!(rows.len(), expected, "{named} (set: {set:?})");
        assert!(
            rows.iter().all(|r| r.tenant_id == named),
            "{named} (set: {set:?})"
        );
    }
    // The tenant setting was the statement's own: the connection keeps none,
    // so a plain read afterwards sees nothing.
    let visible = attempt(
        &mut realtime,
        None,
        "SELECT count(*) AS n FROM events",
        true,
    )
    .await;
    assert!(matches!(visible, Outcome::Rows(0)), "{visible:?}");
    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        tenant: Option<String>,
    }
    let after: Setting =
        diesel::sql_query("SELECT current_setting('app.tenant_id', true) AS tenant")
            .get_result(&mut realtime)
            .await
            .unwrap();
    assert!(after.tenant.unwrap_or_default().is_empty());

    // No other role may call it (the gateway and worker read events their
    // own way; the pump may not read events at all).
    for role in [DbRole::Gateway, DbRole::Worker, DbRole::Pump] {
        let mut conn = connect(&db, role).await;
        let outcome = attempt(
            &mut conn,
            None,
            &format!("SELECT count(*) AS n FROM stream_events_after('{a}', 0, 10)"),
            true,
        )
        .await;
        assert!(
            is_denied(&outcome),
            "{} may not call it: {outcome:?}",
            role.role_name()
        );
    }
}

#[tokio::test]
async fn service_roles_cannot_disable_row_level_security_or_escalate() {
    let db = TestDb::new().await.unwrap();
    for role in DbRole::SERVICES {
        let mut conn = connect(&db, role).await;
        for sql in [
            "ALTER TABLE events DISABLE ROW LEVEL SECURITY",
            "ALTER TABLE commands NO FORCE ROW LEVEL SECURITY",
            "DROP POLICY tenant_isolation ON events",
            "SET ROLE kitchen_dispatcher",
            "SET ROLE kitchen_owner",
            "CREATE TABLE sneaky (id int)",
        ] {
            let err = conn.batch_execute(sql).await;
            assert!(err.is_err(), "{} could run {sql}", role.role_name());
        }
    }
}

#[derive(QueryableByName, Debug, PartialEq, Eq)]
struct CommandState {
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    attempts: i32,
}

async fn command_state(owner: &mut AsyncPgConnection, tenant: Uuid, id: Uuid) -> CommandState {
    conn_begin_as(owner, tenant).await;
    let state = diesel::sql_query(format!(
        "SELECT status, attempts FROM commands WHERE id = '{id}'"
    ))
    .get_result(owner)
    .await
    .unwrap();
    owner.batch_execute("COMMIT").await.unwrap();
    state
}

#[tokio::test]
async fn the_pumps_one_statement_writes_act_on_the_named_tenant_only_and_leave_nothing_set() {
    let db = TestDb::new().await.unwrap();
    let (a, b, command) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut owner = connect(&db, DbRole::Owner).await;
    conn_begin_as(&mut owner, a).await;
    owner
        .batch_execute(&format!(
            "INSERT INTO commands (tenant_id, id, type, payload, aggregate_id, correlation_id)
             VALUES ('{a}', '{command}', 'createOrder', '{{}}', '{command}', '{command}'); COMMIT"
        ))
        .await
        .unwrap();
    let mut pump = connect(&db, DbRole::Pump).await;

    // Naming tenant B with A's command id claims nothing, and A's row is untouched.
    let claimed = diesel::sql_query(format!(
        "SELECT claimed_attempts FROM claim_command('{b}', '{command}', interval '1 minute')"
    ))
    .execute(&mut pump)
    .await
    .unwrap();
    assert_eq!(claimed, 0);
    for sql in [
        format!("SELECT mark_command_dispatched('{b}', '{command}', 'wf')"),
        format!("SELECT release_command('{b}', '{command}', 0)"),
    ] {
        diesel::sql_query(sql).execute(&mut pump).await.unwrap();
    }
    let untouched = CommandState {
        status: "pending".into(),
        attempts: 0,
    };
    assert_eq!(command_state(&mut owner, a, command).await, untouched);

    // Naming A: claimed once (a second claim finds it taken), then dispatched.
    for expected in [1, 0] {
        let n = diesel::sql_query(format!(
            "SELECT claimed_type FROM claim_command('{a}', '{command}', interval '1 minute')"
        ))
        .execute(&mut pump)
        .await
        .unwrap();
        assert_eq!(n, expected);
    }
    diesel::sql_query(format!(
        "SELECT mark_command_dispatched('{a}', '{command}', 'wf')"
    ))
    .execute(&mut pump)
    .await
    .unwrap();
    let dispatched = CommandState {
        status: "dispatched".into(),
        attempts: 1,
    };
    assert_eq!(command_state(&mut owner, a, command).await, dispatched);

    // The settings were the statement's own: the connection keeps no tenant,
    // and later commits are durable again.
    #[derive(QueryableByName)]
    struct Settings {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        tenant: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Text)]
        sync: String,
    }
    let after: Settings = diesel::sql_query(
        "SELECT current_setting('app.tenant_id', true) AS tenant, current_setting('synchronous_commit') AS sync",
    )
    .get_result(&mut pump)
    .await
    .unwrap();
    assert!(after.tenant.unwrap_or_default().is_empty());
    assert_eq!(after.sync, "on");

    // No other role may call them.
    for role in [DbRole::Gateway, DbRole::Worker, DbRole::Realtime] {
        let mut conn = connect(&db, role).await;
        let outcome = attempt(
            &mut conn,
            None,
            &format!(
                "SELECT count(*) AS n FROM claim_command('{a}', '{command}', interval '1 minute')"
            ),
            true,
        )
        .await;
        assert!(
            is_denied(&outcome),
            "{} may not claim: {outcome:?}",
            role.role_name()
        );
    }
}

#[tokio::test]
async fn a_claim_with_an_in_flight_cap_refuses_a_tenant_at_it_and_no_other() {
    #[derive(QueryableByName, Debug, PartialEq)]
    struct Claim {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        claimed_type: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        at_cap: bool,
    }
    let db = TestDb::new().await.unwrap();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let a_ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    let b_id = Uuid::new_v4();
    let mut owner = connect(&db, DbRole::Owner).await;
    for (tenant, id) in a_ids.iter().map(|id| (a, *id)).chain([(b, b_id)]) {
        conn_begin_as(&mut owner, tenant).await;
        owner
            .batch_execute(&format!(
                "INSERT INTO commands (tenant_id, id, type, payload, aggregate_id, correlation_id)
                 VALUES ('{tenant}', '{id}', 'createOrder', '{{}}', '{id}', '{id}'); COMMIT"
            ))
            .await
            .unwrap();
    }
    let mut pump = connect(&db, DbRole::Pump).await;
    let claim = |tenant: Uuid, id: Uuid| {
        diesel::sql_query(format!(
            "SELECT claimed_type, at_cap FROM claim_command('{tenant}', '{id}', interval '1 minute', 2)"
        ))
    };
    let claimed = Claim {
        claimed_type: Some("createOrder".into()),
        at_cap: false,
    };
    let at_cap = Claim {
        claimed_type: None,
        at_cap: true,
    };
    // Two of A's in flight (one claimed, one dispatched): A's third is refused
    // and stays pending; B is untouched by A's cap.
    for id in &a_ids[..2] {
        let c: Claim = claim(a, *id).get_result(&mut pump).await.unwrap();
        assert_eq!(c, claimed);
    }
    diesel::sql_query(format!(
        "SELECT mark_command_dispatched('{a}', '{}', 'wf')",
        a_ids[0]
    ))
    .execute(&mut pump)
    .await
    .unwrap();
    let c: Claim = claim(a, a_ids[2]).get_result(&mut pump).await.unwrap();
    assert_eq!(c, at_cap);
    let pending = CommandState {
        status: "pending".into(),
        attempts: 0,
    };
    assert_eq!(command_state(&mut owner, a, a_ids[2]).await, pending);
    let c: Claim = claim(b, b_id).get_result(&mut pump).await.unwrap();
    assert_eq!(c, claimed);
    // One of A's finishes: room for the third.
    conn_begin_as(&mut owner, a).await;
    owner
        .batch_execute(&format!(
            "UPDATE commands SET status = 'succeeded' WHERE id = '{}'; COMMIT",
            a_ids[0]
        ))
        .await
        .unwrap();
    let c: Claim = claim(a, a_ids[2]).get_result(&mut pump).await.unwrap();
    assert_eq!(c, claimed);
    // A command in flight for longer than stale_after no longer counts (a
    // workflow stuck outside the platform cannot block its tenant for good).
    let fourth = Uuid::new_v4();
    conn_begin_as(&mut owner, a).await;
    owner
        .batch_execute(&format!(
            "UPDATE commands SET updated_at = now() - interval '10 minutes' WHERE status = 'claimed';
             INSERT INTO commands (tenant_id, id, type, payload, aggregate_id, correlation_id)
             VALUES ('{a}', '{fourth}', 'createOrder', '{{}}', '{fourth}', '{fourth}'); COMMIT"
        ))
        .await
        .unwrap();
    let c: Claim = claim(a, fourth).get_result(&mut pump).await.unwrap();
    assert_eq!(c, claimed);
}

/// Rows of `tenant` in every table that has a `tenant_id` column (from the
/// catalog, as `erase_tenant()` finds them), read by the owner.
async fn rows_per_table(owner: &mut AsyncPgConnection, tenant: Uuid) -> Vec<(String, i64)> {
    #[derive(QueryableByName)]
    struct Table {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    let tables: Vec<Table> = diesel::sql_query(
        "SELECT c.relname::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attname = 'tenant_id'
         ORDER BY 1",
    )
    .load(owner)
    .await
    .unwrap();
    let mut counts = Vec::new();
    conn_begin_as(owner, tenant).await;
    for table in tables {
        let count: Count = diesel::sql_query(format!("SELECT count(*) AS n FROM {}", table.name))
            .get_result(owner)
            .await
            .unwrap();
        counts.push((table.name, count.n));
    }
    owner.batch_execute("COMMIT").await.unwrap();
    counts
}

#[tokio::test]
async fn only_the_worker_may_erase_a_tenant_and_erasure_leaves_the_tombstone_and_platform_commands()
{
    let db = TestDb::new().await.unwrap();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let mut owner = connect(&db, DbRole::Owner).await;
    seed(&mut owner, a).await;
    seed(&mut owner, b).await;
    let platform_command = Uuid::new_v4();
    conn_begin_as(&mut owner, a).await;
    owner
        .batch_execute(&format!(
            "INSERT INTO commands (tenant_id, id, type, payload, aggregate_id, correlation_id)
             VALUES ('{a}', '{platform_command}', 'tenant.provision', '{{\"admin\": {{\"email\": \"sam@example.com\"}}}}', '{a}', '{a}');
             COMMIT"
        ))
        .await
        .unwrap();
    let b_before = fingerprint(&mut owner, b).await;

    // A table added later (by another migration) is covered too: the function
    // reads the catalog, not a list.
    owner
        .batch_execute(&format!(
            "CREATE TABLE later_table (tenant_id uuid NOT NULL, x int);
             ALTER TABLE later_table ENABLE ROW LEVEL SECURITY; ALTER TABLE later_table FORCE ROW LEVEL SECURITY;
             CREATE POLICY tenant_isolation ON later_table USING (tenant_id = app_current_tenant()) WITH CHECK (tenant_id = app_current_tenant());
             BEGIN; SELECT set_config('app.tenant_id', '{a}', true); INSERT INTO later_table VALUES ('{a}', 1); COMMIT"
        ))
        .await
        .unwrap();

    let erase = format!("SELECT erase_tenant('{a}', 'erased', 'erase', 'test') AS n");
    for role in [DbRole::Gateway, DbRole::Pump, DbRole::Realtime] {
        let mut conn = connect(&db, role).await;
        let outcome = attempt(&mut conn, Some(a), &erase, true).await;
        assert!(
            is_denied(&outcome),
            "{} may not erase: {outcome:?}",
            role.role_name()
        );
        // Nor delete events any other way (with the tenant set or not).
        for tenant in [Some(a), None] {
            let outcome = attempt(&mut conn, tenant, "DELETE FROM events", false).await;
            assert!(
                is_denied(&outcome),
                "{} deleted events: {outcome:?}",
                role.role_name()
            );
        }
    }
    let mut worker = connect(&db, DbRole::Worker).await;
    let outcome = attempt(&mut worker, Some(a), "DELETE FROM events", false).await;
    assert!(
        is_denied(&outcome),
        "the worker deleted events: {outcome:?}"
    );
    // A status that is not a tombstone is refused.
    let outcome = attempt(
        &mut worker,
        None,
        &format!("SELECT erase_tenant('{a}', 'active', 'x', 'y') AS n"),
        true,
    )
    .await;
    assert!(matches!(outcome, Outcome::Denied(_)), "{outcome:?}");

    let erased: Count = diesel::sql_query(erase.clone())
        .get_result(&mut worker)
        .await
        .unwrap();
    assert!(erased.n >= 8, "rows were erased: {}", erased.n);

    let left: Vec<(String, i64)> = rows_per_table(&mut owner, a)
        .await
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(
        left,
        vec![("commands".to_owned(), 1), ("tenants".to_owned(), 1)],
        "only the tombstone and the platform command remain"
    );
    #[derive(QueryableByName, Debug)]
    struct Tombstone {
        #[diesel(sql_type = diesel::sql_types::Text)]
        status: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        payload: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        erased_by: String,
    }
    conn_begin_as(&mut owner, a).await;
    let tomb: Tombstone = diesel::sql_query(
        "SELECT t.status, t.name, c.payload::text AS payload, t.erased_by FROM tenants t, commands c",
    )
    .get_result(&mut owner)
    .await
    .unwrap();
    owner.batch_execute("COMMIT").await.unwrap();
    assert_eq!(tomb.status, "erased");
    assert_eq!(tomb.name, "erased", "no household name left");
    assert!(!tomb.payload.contains("sam@"), "{}", tomb.payload);
    assert_eq!(tomb.erased_by, "kitchen_worker", "audited");
    assert_eq!(fingerprint(&mut owner, b).await, b_before, "B untouched");
    assert!(rows_per_table(&mut owner, b)
        .await
        .iter()
        .any(|(t, n)| t == "later_table" && *n == 0));
}

#[tokio::test]
async fn only_the_worker_may_list_views_to_rebuild_and_it_learns_ids_only() {
    let db = TestDb::new().await.unwrap();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let mut owner = connect(&db, DbRole::Owner).await;
    for tenant in [a, b] {
        conn_begin_as(&mut owner, tenant).await;
        owner
            .batch_execute(&format!(
                "INSERT INTO tenant_sequences (tenant_id, last_seq) VALUES ('{tenant}', 3); COMMIT"
            ))
            .await
            .unwrap();
    }
    // A's menu view is active at version 1; everything else needs building.
    conn_begin_as(&mut owner, a).await;
    owner
        .batch_execute(&format!(
            "INSERT INTO view_heads (tenant_id, projection, generation, version, state, seq)
             VALUES ('{a}', 'menu', 1, 1, 'active', 3); COMMIT"
        ))
        .await
        .unwrap();
    #[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
    struct Work {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        tenant_id: Uuid,
        #[diesel(sql_type = diesel::sql_types::Text)]
        projection: String,
    }
    let sql = "SELECT tenant_id, projection FROM views_to_rebuild(ARRAY['menu', 'orderBoard'], ARRAY[1, 1], false)";
    let mut worker = connect(&db, DbRole::Worker).await;
    let mut work: Vec<Work> = diesel::sql_query(sql).load(&mut worker).await.unwrap();
    work.sort();
    let mut want = vec![
        Work {
            tenant_id: a,
            projection: "orderBoard".into(),
        },
        Work {
            tenant_id: b,
            projection: "menu".into(),
        },
        Work {
            tenant_id: b,
            projection: "orderBoard".into(),
        },
    ];
    want.sort();
    assert_eq!(work, want);
    for role in [DbRole::Gateway, DbRole::Pump, DbRole::Realtime] {
        let mut conn = connect(&db, role).await;
        let outcome = attempt(
            &mut conn,
            None,
            "SELECT count(*) AS n FROM views_to_rebuild(ARRAY['menu'], ARRAY[1], true)",
            true,
        )
        .await;
        assert!(
            is_denied(&outcome),
            "{} may not list views to rebuild: {outcome:?}",
            role.role_name()
        );
    }
}

/// Issue 15: the overload reading and the pump heartbeats. `platform_load()`
/// crosses tenants but answers a few numbers only, and only the gateway may
/// call it; `pump_heartbeats` holds no tenant data, and only the pump may
/// read or write it.
#[tokio::test]
async fn only_the_gateway_may_read_the_load_and_only_the_pump_may_touch_heartbeats() {
    let db = TestDb::new().await.unwrap();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let mut owner = connect(&db, DbRole::Owner).await;
    seed(&mut owner, a).await;
    seed(&mut owner, b).await;

    #[derive(QueryableByName, Debug)]
    struct Load {
        #[diesel(sql_type = BigInt)]
        open_commands: i64,
    }
    // No tenant set, yet it counts both tenants' open commands: a number, no rows.
    let mut gateway = connect(&db, DbRole::Gateway).await;
    let load: Load = diesel::sql_query("SELECT open_commands FROM platform_load(100, 5000)")
        .get_result(&mut gateway)
        .await
        .unwrap();
    assert_eq!(load.open_commands, 2);
    // The four-argument form (migration 000042) adds the count in flight
    // across tenants: both seeded commands are pending, then one is dispatched.
    #[derive(QueryableByName, Debug)]
    struct InFlight {
        #[diesel(sql_type = BigInt)]
        open_commands: i64,
        #[diesel(sql_type = BigInt)]
        in_flight: i64,
    }
    let in_flight = "SELECT open_commands, in_flight FROM platform_load(100, 5000, 100, 30000)";
    let before: InFlight = diesel::sql_query(in_flight)
        .get_result(&mut gateway)
        .await
        .unwrap();
    assert_eq!((before.open_commands, before.in_flight), (2, 0));
    conn_begin_as(&mut owner, b).await;
    owner
        .batch_execute("UPDATE commands SET status = 'dispatched', updated_at = now(); COMMIT")
        .await
        .unwrap();
    let after: InFlight = diesel::sql_query(in_flight)
        .get_result(&mut gateway)
        .await
        .unwrap();
    assert_eq!((after.open_commands, after.in_flight), (2, 1));
    // The oldest-due backstop counts only tenants with nothing in flight
    // (migration 000041; read per tenant since 000046): a's pending command
    // counts; b's does not once b has one in flight, nor a's once a has.
    #[derive(QueryableByName, Debug)]
    struct Due {
        #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
        oldest_due_ms: Option<i64>,
    }
    let due = "SELECT oldest_due_ms FROM platform_load(100, 5000)";
    let first: Due = diesel::sql_query(due)
        .get_result(&mut gateway)
        .await
        .unwrap();
    assert!(first.oldest_due_ms.is_some(), "{first:?}");
    conn_begin_as(&mut owner, b).await;
    owner
        .batch_execute(&format!(
            "INSERT INTO commands (tenant_id, id, type, payload, aggregate_id, correlation_id) \
             VALUES ('{b}', gen_random_uuid(), 'createOrder', '{{}}', gen_random_uuid(), gen_random_uuid()); COMMIT"
        ))
        .await
        .unwrap();
    conn_begin_as(&mut owner, a).await;
    owner
        .batch_execute("UPDATE commands SET status = 'dispatched', updated_at = now(); COMMIT")
        .await
        .unwrap();
    let last: Due = diesel::sql_query(due)
        .get_result(&mut gateway)
        .await
        .unwrap();
    assert_eq!(
        last.oldest_due_ms, None,
        "only tenants with work in flight have due commands"
    );
    for role in [DbRole::Pump, DbRole::Worker, DbRole::Realtime] {
        let mut conn = connect(&db, role).await;
        for sql in [
            "SELECT open_commands AS n FROM platform_load(100, 5000)",
            "SELECT in_flight AS n FROM platform_load(100, 5000, 100, 30000)",
        ] {
            let outcome = attempt(&mut conn, None, sql, true).await;
            assert!(
                is_denied(&outcome),
                "{} may not read the load ({sql}): {outcome:?}",
                role.role_name()
            );
        }
    }

    let beat = "INSERT INTO pump_heartbeats (pump_id) VALUES (gen_random_uuid())";
    let mut pump = connect(&db, DbRole::Pump).await;
    assert!(matches!(
        attempt(&mut pump, None, beat, false).await,
        Outcome::Rows(1)
    ));
    for role in [DbRole::Gateway, DbRole::Worker, DbRole::Realtime] {
        let mut conn = connect(&db, role).await;
        for sql in [beat, "SELECT count(*) AS n FROM pump_heartbeats"] {
            let outcome = attempt(&mut conn, Some(a), sql, sql.starts_with("SELECT")).await;
            assert!(
                is_denied(&outcome),
                "{} may not touch heartbeats ({sql}): {outcome:?}",
                role.role_name()
            );
        }
    }
}

/// One `OrderCreated` appended to `stream` of `tenant` at `expected` through
/// `append_events()` (migration 2026-11-25-000043), with one view change.
fn append_sql(tenant: Uuid, stream: Uuid, expected: i64) -> String {
    format!(
        "SELECT count(*) AS n FROM append_events('{tenant}', '{stream}', 'order', {expected}, now(),
             ARRAY[gen_random_uuid()], ARRAY['OrderCreated'], ARRAY[1], ARRAY['{{}}'::jsonb],
             ARRAY[gen_random_uuid()], ARRAY[gen_random_uuid()], ARRAY['{{}}'::jsonb],
             '{{}}'::jsonb, 1, ARRAY['orderBoard'], ARRAY[1],
             ARRAY['orderBoard'], ARRAY['{stream}'], ARRAY['put'], ARRAY['{{\"x\": 1}}'::jsonb],
             ARRAY[0::bigint])"
    )
}

#[tokio::test]
async fn the_one_statement_append_writes_the_named_tenant_only_for_the_worker_and_leaves_nothing_set(
) {
    let db = TestDb::new().await.unwrap();
    let (a, b, stream) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut owner = connect(&db, DbRole::Owner).await;
    seed(&mut owner, b).await;
    let b_before = fingerprint(&mut owner, b).await;

    // No other role may call it, whatever tenant is set.
    for role in [DbRole::Gateway, DbRole::Pump, DbRole::Realtime] {
        let mut conn = connect(&db, role).await;
        let outcome = attempt(&mut conn, Some(a), &append_sql(a, stream, 0), true).await;
        assert!(
            is_denied(&outcome),
            "{} may not append: {outcome:?}",
            role.role_name()
        );
    }

    // In a transaction of tenant A, naming tenant B is refused.
    let mut worker = connect(&db, DbRole::Worker).await;
    let outcome = attempt(&mut worker, Some(a), &append_sql(b, stream, 0), true).await;
    assert!(
        matches!(&outcome, Outcome::Denied(m) if m.contains("another tenant")),
        "{outcome:?}"
    );

    // On its own it is its own transaction, of the tenant it names.
    let n: Count = diesel::sql_query(append_sql(a, stream, 0))
        .get_result(&mut worker)
        .await
        .unwrap();
    assert_eq!(n.n, 1);
    let setting: Count = diesel::sql_query(
        "SELECT length(coalesce(current_setting('app.tenant_id', true), ''))::bigint AS n",
    )
    .get_result(&mut worker)
    .await
    .unwrap();
    assert_eq!(setting.n, 0, "the statement's tenant does not outlive it");

    // A stale version is refused by name and writes nothing (seq 1 stays the head).
    let err = diesel::sql_query(append_sql(a, stream, 0))
        .get_result::<Count>(&mut worker)
        .await
        .map(|c| c.n)
        .unwrap_err();
    match &err {
        diesel::result::Error::DatabaseError(_, info) => {
            assert_eq!(info.constraint_name(), Some("append_expected_version"));
            assert_eq!(info.details(), Some("1"));
        }
        other => panic!("{other:?}"),
    }

    conn_begin_as(&mut owner, a).await;
    for (sql, expected) in [
        ("SELECT count(*) AS n FROM events", 1),
        ("SELECT max(seq) AS n FROM events", 1),
        ("SELECT max(last_seq) AS n FROM tenant_sequences", 1),
        ("SELECT max(version) AS n FROM aggregates", 1),
        ("SELECT count(*) AS n FROM view_rows WHERE seq = 1", 1),
    ] {
        let got: Count = diesel::sql_query(sql).get_result(&mut owner).await.unwrap();
        assert_eq!(got.n, expected, "{sql}");
    }
    owner.batch_execute("COMMIT").await.unwrap();
    assert_eq!(
        fingerprint(&mut owner, b).await,
        b_before,
        "tenant B untouched"
    );
}
