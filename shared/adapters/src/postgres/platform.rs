//! The gateway's side of the tenant lifecycle: platform commands go into
//! `commands` under the TARGET tenant's id (RLS applies to them as to any
//! command, the pump routes them like any other, and erasing a tenant keeps
//! exactly them: see migration 000015), after an admission check on the
//! tenant's state made in the same transaction; the provisioning command's
//! admin hash goes into `tenant_admin_secrets` in that transaction too, never
//! into the payload. Reads: one tenant (its row, or its pending provisioning),
//! the paged list (`platform_tenants()`), the export.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use kitchen_domain::platform::{self, Progress};
use kitchen_domain::queue::{CommandRecord, Enqueued, NewCommand};
use kitchen_domain::TenantId;
use serde_json::Value;
use uuid::Uuid;

use super::command_queue::CommandRow;
use super::schema::commands;
use super::tenant_tx::{in_tenant_tx, TxError};
use super::PgPool;

/// Why a platform request was not taken.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// 404: no such tenant.
    #[error("tenant {0} not found")]
    NotFound(TenantId),
    /// 409: the tenant is not in a state that admits the command.
    #[error("{detail}")]
    WrongState { code: &'static str, detail: String },
    /// 409: the idempotency key is taken by another request.
    #[error("command {0} already exists with a different request")]
    IdempotencyConflict(Uuid),
    /// 503.
    #[error("database unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<TxError> for PlatformError {
    fn from(e: TxError) -> Self {
        PlatformError::Unavailable(Box::new(e))
    }
}
impl From<diesel::result::Error> for PlatformError {
    fn from(e: diesel::result::Error) -> Self {
        PlatformError::Unavailable(Box::new(e))
    }
}

/// What the tenant must be for a command to be admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Provisioning: the tenant must not exist, nor be asked for by another
    /// provisioning command.
    NewTenant,
    /// The tenant's status must be one of these (a tenant whose provisioning
    /// command is accepted but whose row is not written yet is `provisioning`).
    InStatus(&'static [&'static str]),
}

/// A tenant's lifecycle columns.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct TenantRow {
    #[diesel(sql_type = SqlUuid)]
    pub tenant_id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub plan: Option<String>,
    #[diesel(sql_type = Jsonb)]
    pub progress: Value,
    #[diesel(sql_type = Nullable<Text>)]
    pub step: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub reason: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub created_at: Option<DateTime<Utc>>,
}

impl TenantRow {
    /// The saga's progress as stored (the default before the first step).
    pub fn progress(&self) -> Progress {
        serde_json::from_value(self.progress.clone()).unwrap_or_default()
    }
}

const TENANT_COLUMNS: &str = "tenant_id, name, status, plan, progress, step, reason, created_at";

/// The platform API's store. Connects as `kitchen_gateway`.
#[derive(Clone)]
pub struct PlatformStore {
    pool: PgPool,
}

impl std::fmt::Debug for PlatformStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformStore").finish_non_exhaustive()
    }
}

async fn tenant_row(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
) -> Result<Option<TenantRow>, diesel::result::Error> {
    diesel::sql_query(format!(
        "SELECT {TENANT_COLUMNS} FROM tenants WHERE tenant_id = $1"
    ))
    .bind::<SqlUuid, _>(tenant.as_uuid())
    .get_result(conn)
    .await
    .optional()
}

/// The provisioning command of a tenant whose row does not exist yet, as a
/// row in status `provisioning` at 0 %, or a `failed` one if it ended.
async fn pending_provisioning(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
) -> Result<Option<TenantRow>, diesel::result::Error> {
    let row: Option<CommandRow> = commands::table
        .filter(commands::tenant_id.eq(tenant.as_uuid()))
        .filter(commands::command_type.eq(platform::PROVISION))
        .order(commands::created_at.desc())
        .select(CommandRow::as_select())
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(|command| {
        let name = command.payload["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let ended = matches!(command.status.as_str(), "rejected" | "failed");
        TenantRow {
            tenant_id: tenant.as_uuid(),
            name,
            status: if ended { "failed" } else { "provisioning" }.to_owned(),
            plan: command.payload["plan"].as_str().map(str::to_owned),
            progress: serde_json::to_value(Progress::default()).expect("serialises"),
            step: None,
            reason: command
                .error
                .as_ref()
                .and_then(|e| e["reason"].as_str())
                .map(str::to_owned),
            created_at: Some(command.created_at),
        }
    }))
}

async fn effective_tenant(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
) -> Result<Option<TenantRow>, diesel::result::Error> {
    match tenant_row(conn, tenant).await? {
        Some(row) => Ok(Some(row)),
        None => pending_provisioning(conn, tenant).await,
    }
}

async fn admit(
    conn: &mut AsyncPgConnection,
    command: &NewCommand,
    admission: Admission,
) -> Result<(), PlatformError> {
    let tenant = command.tenant_id;
    let current = effective_tenant(conn, tenant).await?;
    match (admission, current) {
        (Admission::NewTenant, None) => Ok(()),
        (Admission::NewTenant, Some(row)) => Err(PlatformError::WrongState {
            code: "tenant_exists",
            detail: format!("tenant {tenant} exists already (status {})", row.status),
        }),
        (Admission::InStatus(_), None) => Err(PlatformError::NotFound(tenant)),
        (Admission::InStatus(allowed), Some(row)) if allowed.contains(&row.status.as_str()) => {
            Ok(())
        }
        (Admission::InStatus(allowed), Some(row)) => Err(PlatformError::WrongState {
            code: "wrong_tenant_state",
            detail: format!(
                "`{}` needs the tenant to be {}, it is {}",
                command.command_type,
                allowed.join(" or "),
                row.status
            ),
        }),
    }
}

impl PlatformStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Stores a platform command if the tenant admits it (or returns the same
    /// request stored before: the idempotent retry, checked before the state,
    /// so a retried POST answers 200 even once the saga moved on). `admin_hash`
    /// (provisioning only) is stored beside the command, never in it.
    #[tracing::instrument(skip_all, fields(tenant_id = %command.tenant_id, command_id = %command.id, command_type = %command.command_type))]
    pub async fn submit(
        &self,
        command: NewCommand,
        admission: Admission,
        admin_hash: Option<String>,
    ) -> Result<Enqueued, PlatformError> {
        let tenant = command.tenant_id;
        in_tenant_tx(&self.pool, tenant, |conn| {
            async move {
                let existing: Option<CommandRow> = commands::table
                    .filter(commands::tenant_id.eq(tenant.as_uuid()))
                    .filter(commands::id.eq(command.id.as_uuid()))
                    .select(CommandRow::as_select())
                    .first(conn)
                    .await
                    .optional()?;
                if let Some(row) = existing {
                    let record = CommandRecord::try_from(row)?;
                    return if record.is_same_request(&command) {
                        Ok(Enqueued::Existing(record))
                    } else {
                        Err(PlatformError::IdempotencyConflict(command.id.as_uuid()))
                    };
                }
                admit(conn, &command, admission).await?;
                let created_at: DateTime<Utc> = diesel::insert_into(commands::table)
                    .values((
                        commands::tenant_id.eq(tenant.as_uuid()),
                        commands::id.eq(command.id.as_uuid()),
                        commands::command_type.eq(&command.command_type),
                        commands::payload.eq(&command.payload),
                        commands::aggregate_id.eq(command.aggregate_id.as_uuid()),
                        commands::user_id.eq(command.user_id.as_deref()),
                        commands::correlation_id.eq(command.correlation_id.as_uuid()),
                        commands::metadata.eq(&command.metadata),
                    ))
                    .returning(commands::created_at)
                    .get_result(conn)
                    .await?;
                if let Some(hash) = admin_hash {
                    diesel::sql_query(
                        "INSERT INTO tenant_admin_secrets (tenant_id, command_id, password_hash) VALUES ($1, $2, $3)",
                    )
                    .bind::<SqlUuid, _>(tenant.as_uuid())
                    .bind::<SqlUuid, _>(command.id.as_uuid())
                    .bind::<Text, _>(hash)
                    .execute(conn)
                    .await?;
                }
                Ok(Enqueued::Created(CommandRecord::pending(command, created_at)))
            }
            .scope_boxed()
        })
        .await
    }

    /// One tenant: its row, or its accepted provisioning before the row exists.
    pub async fn tenant(&self, tenant: TenantId) -> Result<Option<TenantRow>, PlatformError> {
        in_tenant_tx(&self.pool, tenant, |conn| {
            async move { Ok(effective_tenant(conn, tenant).await?) }.scope_boxed()
        })
        .await
    }

    /// A page of tenants by id, after `after`.
    pub async fn list(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<TenantRow>, PlatformError> {
        let mut conn = self.pool.get().await.map_err(TxError::from)?;
        let rows = diesel::sql_query(format!(
            "SELECT {TENANT_COLUMNS} FROM platform_tenants($1, $2)"
        ))
        .bind::<Nullable<SqlUuid>, _>(after)
        .bind::<Integer, _>(limit as i32)
        .load(&mut conn)
        .await?;
        Ok(rows)
    }

    /// The tenant's export, one JSON value per line in order; empty when none.
    pub async fn export(&self, tenant: TenantId) -> Result<Vec<Value>, PlatformError> {
        #[derive(QueryableByName)]
        struct Line {
            #[diesel(sql_type = Jsonb)]
            line: Value,
        }
        in_tenant_tx(&self.pool, tenant, |conn| {
            async move {
                let lines: Vec<Line> = diesel::sql_query(
                    "SELECT line FROM tenant_exports WHERE tenant_id = $1 ORDER BY line_no",
                )
                .bind::<SqlUuid, _>(tenant.as_uuid())
                .load(conn)
                .await?;
                Ok(lines.into_iter().map(|l| l.line).collect())
            }
            .scope_boxed()
        })
        .await
    }
}
