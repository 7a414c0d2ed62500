//! One-time, superuser work that migrations cannot do: the login roles (cluster-
//! wide, with their passwords) and the database, owned by the migration owner.
//! Idempotent: re-running updates passwords and skips what exists.

use diesel::sql_types::{Bool, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use secrecy::ExposeSecret;

use crate::config::{DatabaseSettings, DbRole};

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("cannot connect as the admin user: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("bootstrap statement failed: {0}")]
    Statement(#[from] diesel::result::Error),
}

/// Serialises concurrent bootstraps (e.g. parallel test processes) on the
/// admin database, because concurrent `ALTER ROLE` on one role fails.
const BOOTSTRAP_LOCK: i64 = 0x6b69_7463_6865_6e;

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

/// Creates or updates every login role, then creates `database` if missing.
pub async fn bootstrap(db: &DatabaseSettings, database: &str) -> Result<(), BootstrapError> {
    let mut conn = AsyncPgConnection::establish(db.admin_url().expose_secret()).await?;
    conn.batch_execute(&format!("SELECT pg_advisory_lock({BOOTSTRAP_LOCK})"))
        .await?;
    let result = bootstrap_locked(&mut conn, db, database).await;
    conn.batch_execute(&format!("SELECT pg_advisory_unlock({BOOTSTRAP_LOCK})"))
        .await?;
    result
}

async fn bootstrap_locked(
    conn: &mut AsyncPgConnection,
    db: &DatabaseSettings,
    database: &str,
) -> Result<(), BootstrapError> {
    let roles = std::iter::once(DbRole::Owner).chain(DbRole::SERVICES);
    for role in roles {
        let name = role.role_name();
        let password = db.roles.for_role(role).expose_secret().to_owned();
        let found = exists(
            conn,
            "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) AS exists",
            name,
        )
        .await?;
        let verb = if found { "ALTER" } else { "CREATE" };
        // Service roles never own anything and never bypass row-level security.
        conn.batch_execute(&format!(
            "{verb} ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD {}",
            quote_ident(name),
            quote_literal(&password)
        ))
        .await?;
    }
    let found = exists(
        conn,
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
    let mut conn = AsyncPgConnection::establish(db.admin_url().expose_secret()).await?;
    conn.batch_execute(&format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_ident(database)
    ))
    .await?;
    Ok(())
}
