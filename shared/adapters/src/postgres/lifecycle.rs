//! The worker's side of the tenant lifecycle: every step of the provisioning
//! and offboarding workflows, and their compensations, each ONE transaction
//! that is idempotent (a retry after a crash finds its work done and does
//! nothing twice) and writes the saga's progress with the step's own work.
//! Inputs are ids; payloads are read here from the command rows, so workflow
//! histories hold no personal data. Connects as `kitchen_worker`.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Jsonb, Nullable, Text, Uuid as SqlUuid};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use kitchen_domain::catalog::AnyCommand;
use kitchen_domain::menu::MenuCommand;
use kitchen_domain::platform::{
    self, CancelPayload, Progress, ProvisionPayload, Step, UpdatePayload,
};
use kitchen_domain::ports::StoreError;
use kitchen_domain::usecase::{Decision, EventContext};
use kitchen_domain::{CommandId, TenantId};
use serde_json::{json, Value};

use super::command_queue::CommandRow;
use super::event_store::{append_in_tx, load_in_tx};
use super::schema::commands;
use super::tenant_tx::{in_tenant_tx, TxError};
use super::PgPool;

/// Why a lifecycle step did not complete.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// Final: the request is invalid (a field and why). Not retried.
    #[error("`{field}`: {reason}")]
    Invalid { field: String, reason: String },
    /// Final: the step cannot ever succeed (a missing command, say). Not retried.
    #[error("{0}")]
    Impossible(String),
    /// Transient: retried with backoff.
    #[error("database error")]
    Database(#[from] diesel::result::Error),
    #[error(transparent)]
    Transaction(#[from] TxError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl LifecycleError {
    /// Whether retrying could help.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Invalid { .. } | Self::Impossible(_))
    }
}

/// How a saga ended badly, for its tombstone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tombstone {
    /// `failed` or `cancelled` (or `erased`).
    pub status: String,
    pub step: String,
    pub reason: String,
}

/// The worker's lifecycle steps. See the module docs.
#[derive(Clone)]
pub struct LifecycleStore {
    pool: PgPool,
}

impl std::fmt::Debug for LifecycleStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LifecycleStore").finish_non_exhaustive()
    }
}

async fn command_row(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: CommandId,
) -> Result<CommandRow, LifecycleError> {
    commands::table
        .filter(commands::tenant_id.eq(tenant.as_uuid()))
        .filter(commands::id.eq(id.as_uuid()))
        .select(CommandRow::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| LifecycleError::Impossible(format!("platform command {id} not found")))
}

async fn provision_payload(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: CommandId,
) -> Result<ProvisionPayload, LifecycleError> {
    let row = command_row(conn, tenant, id).await?;
    ProvisionPayload::parse(&row.payload).map_err(|e| LifecycleError::Invalid {
        field: e.field,
        reason: e.reason,
    })
}

async fn set_progress(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    progress: &Progress,
) -> Result<(), diesel::result::Error> {
    diesel::sql_query("UPDATE tenants SET progress = $2, updated_at = now() WHERE tenant_id = $1")
        .bind::<SqlUuid, _>(tenant.as_uuid())
        .bind::<Jsonb, _>(serde_json::to_value(progress).expect("serialises"))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Sets a command's final status (once: a final status is kept).
async fn finish_command(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: CommandId,
    status: &str,
    error: Option<Value>,
) -> Result<(), diesel::result::Error> {
    diesel::sql_query(
        "UPDATE commands SET status = $3, error = $4, updated_at = now()
         WHERE tenant_id = $1 AND id = $2 AND status NOT IN ('succeeded', 'rejected', 'failed')",
    )
    .bind::<SqlUuid, _>(tenant.as_uuid())
    .bind::<SqlUuid, _>(id.as_uuid())
    .bind::<Text, _>(status)
    .bind::<Nullable<Jsonb>, _>(error)
    .execute(conn)
    .await
    .map(|_| ())
}

async fn tenant_status(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
) -> Result<Option<String>, diesel::result::Error> {
    #[derive(QueryableByName)]
    struct Status {
        #[diesel(sql_type = Text)]
        status: String,
    }
    let row: Option<Status> = diesel::sql_query("SELECT status FROM tenants WHERE tenant_id = $1")
        .bind::<SqlUuid, _>(tenant.as_uuid())
        .get_result(conn)
        .await
        .optional()?;
    Ok(row.map(|r| r.status))
}

/// Erases the tenant through `erase_tenant()` (migration 000015), leaving the
/// tombstone; creates the tombstone first if the tenant row never existed.
async fn erase(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    tombstone: &Tombstone,
    progress: Option<&Progress>,
) -> Result<i64, diesel::result::Error> {
    #[derive(QueryableByName)]
    struct Erased {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    diesel::sql_query(
        "INSERT INTO tenants (tenant_id, name, status) VALUES ($1, 'erased', 'provisioning')
         ON CONFLICT (tenant_id) DO NOTHING",
    )
    .bind::<SqlUuid, _>(tenant.as_uuid())
    .execute(conn)
    .await?;
    if let Some(progress) = progress {
        set_progress(conn, tenant, progress).await?;
    }
    let erased: Erased = diesel::sql_query("SELECT erase_tenant($1, $2, $3, $4) AS n")
        .bind::<SqlUuid, _>(tenant.as_uuid())
        .bind::<Text, _>(&tombstone.status)
        .bind::<Text, _>(&tombstone.step)
        .bind::<Text, _>(&tombstone.reason)
        .get_result(conn)
        .await?;
    Ok(erased.n)
}

impl LifecycleStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    async fn in_tx<T, F>(&self, tenant: TenantId, work: F) -> Result<T, LifecycleError>
    where
        T: Send + 'static,
        F: for<'r> FnOnce(
                &'r mut AsyncPgConnection,
            ) -> diesel_async::scoped_futures::ScopedBoxFuture<
                'static,
                'r,
                Result<T, LifecycleError>,
            > + Send
            + 'static,
    {
        in_tenant_tx(&self.pool, tenant, work).await
    }

    /// Runs provisioning `step` for the tenant of command `id`, and records
    /// `progress` (the progress once the step is done) in the same transaction.
    #[tracing::instrument(skip(self, progress), fields(tenant_id = %tenant, command_id = %id, step = step.name()))]
    pub async fn run_step(
        &self,
        tenant: TenantId,
        id: CommandId,
        step: Step,
        progress: Progress,
    ) -> Result<(), LifecycleError> {
        self.in_tx(tenant, move |conn| {
            async move {
                let payload = provision_payload(conn, tenant, id).await?;
                match step {
                    Step::Validate => {}
                    Step::CreateTenant => create_tenant(conn, tenant, &payload).await?,
                    Step::CreateAdmin => create_admin(conn, tenant, id, &payload).await?,
                    Step::InitialData => initial_data(conn, tenant, id, &payload).await?,
                    Step::Activate => {
                        diesel::sql_query(
                            "UPDATE tenants SET status = 'active', updated_at = now()
                             WHERE tenant_id = $1 AND status = 'provisioning'",
                        )
                        .bind::<SqlUuid, _>(tenant.as_uuid())
                        .execute(conn)
                        .await?;
                        finish_command(conn, tenant, id, "succeeded", None).await?;
                    }
                }
                set_progress(conn, tenant, &progress).await?;
                tracing::info!("provisioning step done");
                Ok(())
            }
            .scope_boxed()
        })
        .await
    }

    /// Undoes provisioning `step` (idempotent). Events can only be removed by
    /// `erase_tenant()`, so undoing the initial data erases the tenant's rows.
    #[tracing::instrument(skip(self, tombstone, progress), fields(tenant_id = %tenant, step = step.name()))]
    pub async fn compensate(
        &self,
        tenant: TenantId,
        step: Step,
        tombstone: Tombstone,
        progress: Progress,
    ) -> Result<(), LifecycleError> {
        self.in_tx(tenant, move |conn| {
            async move {
                match step {
                    Step::Validate => {}
                    Step::Activate => {
                        diesel::sql_query(
                            "UPDATE tenants SET status = 'provisioning', updated_at = now()
                             WHERE tenant_id = $1 AND status = 'active'",
                        )
                        .bind::<SqlUuid, _>(tenant.as_uuid())
                        .execute(conn)
                        .await?;
                    }
                    Step::InitialData | Step::CreateTenant => {
                        erase(conn, tenant, &tombstone, Some(&progress)).await?;
                    }
                    Step::CreateAdmin => {
                        for sql in [
                            "DELETE FROM users WHERE tenant_id = $1",
                            "DELETE FROM tenant_admin_secrets WHERE tenant_id = $1",
                        ] {
                            diesel::sql_query(sql)
                                .bind::<SqlUuid, _>(tenant.as_uuid())
                                .execute(conn)
                                .await?;
                        }
                    }
                }
                tracing::info!("provisioning step compensated");
                Ok(())
            }
            .scope_boxed()
        })
        .await
    }

    /// The end of a saga that failed or was cancelled: the tombstone (with the
    /// final progress), nothing else of the tenant but its platform commands;
    /// the provisioning command `id` ends `failed` with the step and reason.
    #[tracing::instrument(skip(self, tombstone, progress), fields(tenant_id = %tenant, command_id = %id))]
    pub async fn tombstone(
        &self,
        tenant: TenantId,
        id: CommandId,
        tombstone: Tombstone,
        progress: Progress,
    ) -> Result<(), LifecycleError> {
        self.in_tx(tenant, move |conn| {
            async move {
                let n = erase(conn, tenant, &tombstone, Some(&progress)).await?;
                let code = format!("provisioning_{}", tombstone.status);
                let error =
                    json!({"code": code, "reason": tombstone.reason, "step": tombstone.step});
                finish_command(conn, tenant, id, "failed", Some(error)).await?;
                tracing::info!(status = %tombstone.status, rows = n, "tenant tombstoned");
                Ok(())
            }
            .scope_boxed()
        })
        .await
    }

    /// The reason of cancel command `id`.
    pub async fn cancel_reason(
        &self,
        tenant: TenantId,
        id: CommandId,
    ) -> Result<String, LifecycleError> {
        self.in_tx(tenant, move |conn| {
            async move {
                let row = command_row(conn, tenant, id).await?;
                Ok(CancelPayload::parse(&row.payload)
                    .map(|p| p.reason)
                    .unwrap_or_else(|_| "cancelled".into()))
            }
            .scope_boxed()
        })
        .await
    }

    /// Ends command `id` with `status` (and `error`), unless it is final.
    pub async fn finish(
        &self,
        tenant: TenantId,
        id: CommandId,
        status: &'static str,
        error: Option<Value>,
    ) -> Result<(), LifecycleError> {
        self.in_tx(tenant, move |conn| {
            async move { Ok(finish_command(conn, tenant, id, status, error).await?) }.scope_boxed()
        })
        .await
    }

    /// Applies update command `id` (name, plan) to the tenant's row, if the
    /// tenant is provisioning or active; returns whether it applied. The
    /// command ends `succeeded`, or `rejected` (`wrong_tenant_state`).
    #[tracing::instrument(skip(self), fields(tenant_id = %tenant, command_id = %id))]
    pub async fn apply_update(
        &self,
        tenant: TenantId,
        id: CommandId,
    ) -> Result<bool, LifecycleError> {
        self.in_tx(tenant, move |conn| {
            async move {
                let row = command_row(conn, tenant, id).await?;
                if matches!(row.status.as_str(), "succeeded" | "rejected" | "failed") {
                    return Ok(row.status == "succeeded");
                }
                let update = UpdatePayload::parse(&row.payload).map_err(|e| {
                    LifecycleError::Invalid {
                        field: e.field,
                        reason: e.reason,
                    }
                })?;
                let applied = diesel::sql_query(
                    "UPDATE tenants SET name = coalesce($2, name), plan = coalesce($3, plan), updated_at = now()
                     WHERE tenant_id = $1 AND status IN ('provisioning', 'active')",
                )
                .bind::<SqlUuid, _>(tenant.as_uuid())
                .bind::<Nullable<Text>, _>(update.name)
                .bind::<Nullable<Text>, _>(update.plan)
                .execute(conn)
                .await?
                    > 0;
                let (status, error) = if applied {
                    ("succeeded", None)
                } else {
                    (
                        "rejected",
                        Some(json!({"code": "wrong_tenant_state", "reason": "the tenant is neither provisioning nor active"})),
                    )
                };
                finish_command(conn, tenant, id, status, error).await?;
                Ok(applied)
            }
            .scope_boxed()
        })
        .await
    }

    /// Offboarding, first step: the tenant is `disabled` (no longer served).
    /// Returns false when the tenant is not active (nothing to offboard).
    #[tracing::instrument(skip(self), fields(tenant_id = %tenant))]
    pub async fn disable(&self, tenant: TenantId) -> Result<bool, LifecycleError> {
        self.in_tx(tenant, move |conn| {
            async move {
                let status = tenant_status(conn, tenant).await?;
                if status.as_deref() == Some("disabled") {
                    return Ok(true);
                }
                let n = diesel::sql_query(
                    "UPDATE tenants SET status = 'disabled', updated_at = now()
                     WHERE tenant_id = $1 AND status = 'active'",
                )
                .bind::<SqlUuid, _>(tenant.as_uuid())
                .execute(conn)
                .await?;
                Ok(n > 0)
            }
            .scope_boxed()
        })
        .await
    }

    /// Writes the export: every event in seq order, then every aggregate's
    /// current state, then the tenant and its users (no password hashes), one
    /// JSON line each. Replaces any earlier export (idempotent). Returns lines.
    #[tracing::instrument(skip(self), fields(tenant_id = %tenant))]
    pub async fn export(&self, tenant: TenantId) -> Result<i64, LifecycleError> {
        const EXPORT_SQL: &str = "
            INSERT INTO tenant_exports (tenant_id, line_no, line)
            SELECT $1, row_number() OVER (ORDER BY part, k1, k2), line FROM (
                SELECT 1 AS part, e.seq AS k1, ''::text AS k2,
                       jsonb_build_object('kind', 'event', 'seq', e.seq, 'id', e.id,
                           'aggregateType', e.aggregate_type, 'aggregateId', e.aggregate_id,
                           'version', e.version, 'type', e.type, 'schemaVersion', e.schema_version,
                           'payload', e.payload, 'causationId', e.causation_id,
                           'correlationId', e.correlation_id, 'metadata', e.metadata,
                           'createdAt', e.created_at) AS line
                  FROM events e WHERE e.tenant_id = $1
                UNION ALL
                SELECT 2, 0, a.id::text,
                       jsonb_build_object('kind', 'aggregate', 'id', a.id, 'type', a.type,
                           'version', a.version, 'seq', a.seq, 'state', a.snapshot)
                  FROM aggregates a WHERE a.tenant_id = $1
                UNION ALL
                SELECT 3, 0, '',
                       jsonb_build_object('kind', 'tenant', 'tenantId', t.tenant_id, 'name', t.name,
                           'plan', t.plan, 'preferences', t.preferences, 'createdAt', t.created_at)
                  FROM tenants t WHERE t.tenant_id = $1
                UNION ALL
                SELECT 4, 0, u.id::text,
                       jsonb_build_object('kind', 'user', 'id', u.id, 'email', u.email,
                           'displayName', u.display_name, 'role', u.role, 'createdAt', u.created_at)
                  FROM users u WHERE u.tenant_id = $1
            ) parts";
        self.in_tx(tenant, move |conn| {
            async move {
                diesel::sql_query("DELETE FROM tenant_exports WHERE tenant_id = $1")
                    .bind::<SqlUuid, _>(tenant.as_uuid())
                    .execute(conn)
                    .await?;
                let n = diesel::sql_query(EXPORT_SQL)
                    .bind::<SqlUuid, _>(tenant.as_uuid())
                    .execute(conn)
                    .await?;
                tracing::info!(lines = n, "tenant exported");
                Ok(n as i64)
            }
            .scope_boxed()
        })
        .await
    }

    /// Restore during the grace period: active again, the export removed, the
    /// restore command `restore` and the offboarding command `offboard` end.
    #[tracing::instrument(skip(self), fields(tenant_id = %tenant))]
    pub async fn restore(
        &self,
        tenant: TenantId,
        offboard: CommandId,
        restore: CommandId,
    ) -> Result<(), LifecycleError> {
        self.in_tx(tenant, move |conn| {
            async move {
                diesel::sql_query(
                    "UPDATE tenants SET status = 'active', updated_at = now()
                     WHERE tenant_id = $1 AND status = 'disabled'",
                )
                .bind::<SqlUuid, _>(tenant.as_uuid())
                .execute(conn)
                .await?;
                diesel::sql_query("DELETE FROM tenant_exports WHERE tenant_id = $1")
                    .bind::<SqlUuid, _>(tenant.as_uuid())
                    .execute(conn)
                    .await?;
                finish_command(conn, tenant, restore, "succeeded", None).await?;
                let error = json!({"code": "offboarding_restored", "reason": "restored during the grace period"});
                finish_command(conn, tenant, offboard, "rejected", Some(error)).await?;
                tracing::info!("tenant restored");
                Ok(())
            }
            .scope_boxed()
        })
        .await
    }

    /// The end of offboarding: `erase_tenant()` (tombstone `erased`); the
    /// offboarding command `offboard` ends `succeeded`.
    #[tracing::instrument(skip(self), fields(tenant_id = %tenant))]
    pub async fn erase_offboarded(
        &self,
        tenant: TenantId,
        offboard: CommandId,
    ) -> Result<i64, LifecycleError> {
        self.in_tx(tenant, move |conn| {
            async move {
                let tombstone = Tombstone {
                    status: "erased".into(),
                    step: "erase".into(),
                    reason: "offboarded".into(),
                };
                let n = erase(conn, tenant, &tombstone, None).await?;
                finish_command(conn, tenant, offboard, "succeeded", None).await?;
                tracing::info!(rows = n, "tenant erased");
                Ok(n)
            }
            .scope_boxed()
        })
        .await
    }
}

async fn create_tenant(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    payload: &ProvisionPayload,
) -> Result<(), LifecycleError> {
    diesel::sql_query(
        "INSERT INTO tenants (tenant_id, name, status, plan) VALUES ($1, $2, 'provisioning', $3)
         ON CONFLICT (tenant_id) DO NOTHING",
    )
    .bind::<SqlUuid, _>(tenant.as_uuid())
    .bind::<Text, _>(&payload.name)
    .bind::<Nullable<Text>, _>(payload.plan.as_deref())
    .execute(conn)
    .await?;
    diesel::sql_query(
        "INSERT INTO tenant_sequences (tenant_id, last_seq) VALUES ($1, 0) ON CONFLICT (tenant_id) DO NOTHING",
    )
    .bind::<SqlUuid, _>(tenant.as_uuid())
    .execute(conn)
    .await?;
    Ok(())
}

async fn create_admin(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: CommandId,
    payload: &ProvisionPayload,
) -> Result<(), LifecycleError> {
    #[derive(QueryableByName)]
    struct Secret {
        #[diesel(sql_type = Text)]
        password_hash: String,
    }
    let admin = platform::admin_user_id(tenant);
    let secret: Option<Secret> = diesel::sql_query(
        "SELECT password_hash FROM tenant_admin_secrets WHERE tenant_id = $1 AND command_id = $2",
    )
    .bind::<SqlUuid, _>(tenant.as_uuid())
    .bind::<SqlUuid, _>(id.as_uuid())
    .get_result(conn)
    .await
    .optional()?;
    if let Some(secret) = secret {
        diesel::sql_query(
            "INSERT INTO users (tenant_id, id, email, display_name, password_hash, role)
             VALUES ($1, $2, $3, $4, $5, 'admin') ON CONFLICT DO NOTHING",
        )
        .bind::<SqlUuid, _>(tenant.as_uuid())
        .bind::<SqlUuid, _>(admin)
        .bind::<Text, _>(&payload.admin.email)
        .bind::<Text, _>(&payload.admin.display_name)
        .bind::<Text, _>(&secret.password_hash)
        .execute(conn)
        .await?;
        // The admin exists: the hash is scrubbed from where the command left it.
        diesel::sql_query("DELETE FROM tenant_admin_secrets WHERE tenant_id = $1")
            .bind::<SqlUuid, _>(tenant.as_uuid())
            .execute(conn)
            .await?;
        return Ok(());
    }
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let found: Found =
        diesel::sql_query("SELECT count(*) AS n FROM users WHERE tenant_id = $1 AND id = $2")
            .bind::<SqlUuid, _>(tenant.as_uuid())
            .bind::<SqlUuid, _>(admin)
            .get_result(conn)
            .await?;
    if found.n == 0 {
        return Err(LifecycleError::Impossible(
            "the admin's password hash is missing".into(),
        ));
    }
    Ok(())
}

/// The initial menu as `addMenuItem` commands through the generic use case
/// (decide, then append with the snapshot), so the menu is on the tenant's
/// log and its sockets like any later change. Event ids derive from the
/// provisioning command, so a retry appends nothing twice; items already on
/// the menu (a retry after a commit) are skipped.
async fn initial_data(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: CommandId,
    payload: &ProvisionPayload,
) -> Result<(), LifecycleError> {
    let row = command_row(conn, tenant, id).await?;
    let correlation = row
        .correlation_id
        .try_into()
        .map_err(|e: kitchen_domain::IdError| LifecycleError::Impossible(e.to_string()))?;
    for (index, item) in payload.initial_menu().into_iter().enumerate() {
        let command = AnyCommand::Menu(MenuCommand::Add(item));
        let stream = command.stream(tenant);
        let loaded = load_in_tx(conn, tenant, &stream).await?;
        let ctx = EventContext {
            tenant,
            command_id: id,
            correlation_id: correlation,
            metadata: json!({"commandType": "addMenuItem", "provisionedBy": id.to_string()}),
            first_index: index,
        };
        let decision = command
            .decide(&loaded, &ctx)
            .map_err(|e| LifecycleError::Impossible(e.to_string()))?;
        match decision {
            Decision::Accepted(accepted) => {
                append_in_tx(
                    conn,
                    tenant,
                    &accepted.stream,
                    accepted.expected,
                    &accepted.events,
                    &accepted.snapshot,
                )
                .await?;
            }
            Decision::Rejected(rejected) if rejected.code == "menu_item_exists" => {}
            Decision::Rejected(rejected) => {
                return Err(LifecycleError::Invalid {
                    field: format!("menu[{index}]"),
                    reason: rejected.reason,
                })
            }
        }
    }
    diesel::sql_query("UPDATE tenants SET preferences = preferences || $2 WHERE tenant_id = $1")
        .bind::<SqlUuid, _>(tenant.as_uuid())
        .bind::<Jsonb, _>(json!({"currency": "EUR", "locale": "en"}))
        .execute(conn)
        .await?;
    Ok(())
}
