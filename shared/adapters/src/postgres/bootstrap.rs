//! One-time, superuser work that migrations cannot do: the roles (cluster-wide,
//! with their passwords) and the database, owned by the migration owner.
//! Idempotent: re-running updates passwords and skips what exists.

use diesel::sql_types::{Bool, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use secrecy::ExposeSecret;

use crate::config::{DatabaseSettings, DbRole};

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("cannot connect as the admin user: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("bootstrap statement failed: {0}")]
    Statement(#[from] diesel::result::Error),
}

/// Owns `due_commands()`, the pump's cross-tenant work list: NOLOGIN, BYPASSRLS.
pub const DISPATCHER_ROLE: &str = "kitchen_dispatcher";

/// Serialises concurrent bootstraps (e.g. parallel test processes) on the
/// admin database, because concurrent `ALTER ROLE` on one role fails.
const BOOTSTRAP_LOCK: i64 = 0x006b_6974_6368_656e;

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    exists: bool,
}

fn quote_ident(raw: &str) -> String {
    format!("\"{}\"", raw.replace('"', "\"\""))
}

fn quote_literal(raw: &str) -> String {
    format!("'{}'", raw.replace('\'', "''"))
}

async fn exists(
    conn: &mut AsyncPgConnection,
    sql: &str,
    name: &str,
) -> Result<bool, BootstrapError> {
    let row: Exists = diesel::sql_query(sql)
        .bind::<Text, _>(name)
        .get_result(conn)
        .await?;
    Ok(row.exists)
}

async fn admin(db: &DatabaseSettings) -> Result<AsyncPgConnection, BootstrapError> {
    Ok(super::tls::establish(db.admin_url().expose_secret()).await?)
}

/// Roles, then the database: what a fresh cluster needs before `migrate`.
pub async fn bootstrap(db: &DatabaseSettings, database: &str) -> Result<(), BootstrapError> {
    ensure_roles(db).await?;
    ensure_database(db, database).await
}

/// Creates or updates the owner, the dispatcher and the four service roles.
pub async fn ensure_roles(db: &DatabaseSettings) -> Result<(), BootstrapError> {
    let mut conn = admin(db).await?;
    conn.batch_execute(&format!("SELECT pg_advisory_lock({BOOTSTRAP_LOCK})"))
        .await?;
    let result = ensure_roles_locked(&mut conn, db).await;
    conn.batch_execute(&format!("SELECT pg_advisory_unlock({BOOTSTRAP_LOCK})"))
        .await?;
    result
}

async fn ensure_roles_locked(
    conn: &mut AsyncPgConnection,
    db: &DatabaseSettings,
) -> Result<(), BootstrapError> {
    let role_exists = "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) AS exists";
    let roles = std::iter::once(DbRole::Owner).chain(DbRole::SERVICES);
    for role in roles {
        let name = role.role_name();
        let verb = if exists(conn, role_exists, name).await? {
            "ALTER"
        } else {
            "CREATE"
        };
        // Login roles never bypass row-level security and never create roles.
        conn.batch_execute(&format!(
            "{verb} ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD {}",
            quote_ident(name),
            quote_literal(db.roles.for_role(role).expose_secret())
        ))
        .await?;
    }
    if !exists(conn, role_exists, DISPATCHER_ROLE).await? {
        conn.batch_execute(&format!(
            "CREATE ROLE {DISPATCHER_ROLE} NOLOGIN NOINHERIT BYPASSRLS"
        ))
        .await?;
    }
    // The owner hands `due_commands()` to the dispatcher, which needs membership.
    conn.batch_execute(&format!(
        "GRANT {DISPATCHER_ROLE} TO {}",
        quote_ident(DbRole::Owner.role_name())
    ))
    .await?;
    Ok(())
}

/// Creates `database`, owned by `kitchen_owner`, unless it exists.
pub async fn ensure_database(db: &DatabaseSettings, database: &str) -> Result<(), BootstrapError> {
    let mut conn = admin(db).await?;
    let found = exists(
        &mut conn,
        "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists",
        database,
    )
    .await?;
    if !found {
        conn.batch_execute(&format!(
            "CREATE DATABASE {} OWNER {}",
            quote_ident(database),
            quote_ident(DbRole::Owner.role_name())
        ))
        .await?;
    }
    Ok(())
}

/// Drops a database, disconnecting its sessions (for tests and `reset`).
pub async fn drop_database(db: &DatabaseSettings, database: &str) -> Result<(), BootstrapError> {
    let mut conn = admin(db).await?;
    conn.batch_execute(&format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_ident(database)
    ))
    .await?;
    Ok(())
}
