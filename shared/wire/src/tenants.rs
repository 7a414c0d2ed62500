//! The platform API (`/v1/tenants...`, platform tokens only): provisioning,
//! progress, cancel, update, offboarding, restore, export.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// The household's first admin. The password is hashed (argon2id) by the
/// gateway before anything is stored and never leaves it in plain text.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAdmin {
    pub email: String,
    pub display_name: String,
    /// 8 to 200 characters.
    pub password: String,
}

impl std::fmt::Debug for NewAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAdmin")
            .field("email", &self.email)
            .field("display_name", &self.display_name)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The body of `POST /v1/tenants`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTenant {
    /// The idempotency key; made when absent. The same key and body again
    /// answer the stored request (200) — the password is not compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    /// The new tenant's id; derived from the idempotency key (UUIDv5) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<Uuid>,
    /// The household's name (1 to 200 characters).
    pub name: String,
    pub admin: NewAdmin,
    /// A plan name: letters, digits, `-`, `_`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// The initial menu (`addMenuItem` payloads); a default menu when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub menu: Option<Vec<Value>>,
}

/// `202` to a platform command (`200` to the same request again).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantAccepted {
    pub tenant_id: Uuid,
    /// The platform command; follow it with `GET /v1/tenants/{tenantId}`.
    pub command_id: Uuid,
    /// The command's status (`pending` when new).
    pub status: String,
}

/// Where a provisioning saga is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvisioningView {
    /// 0 to 100.
    pub percent: u8,
    /// The step running, or the last one.
    pub step: String,
    /// How many steps the saga has.
    pub steps: usize,
    /// The steps done, in order.
    pub completed: Vec<String>,
    /// Why the saga stopped (`failed` or `cancelled`), with the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StepErrorView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepErrorView {
    pub step: String,
    pub reason: String,
}

/// A tenant as the platform sees it. A tombstone (`failed`, `cancelled`,
/// `erased`) keeps no personal data: its name reads `erased`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantView {
    pub tenant_id: Uuid,
    pub name: String,
    /// `provisioning`, `active`, `disabled`, `failed`, `cancelled` or `erased`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    pub provisioning: ProvisioningView,
    /// The step a tombstone stopped at and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
}

/// A page of `GET /v1/tenants` (ordered by id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantsPage {
    pub tenants: Vec<TenantView>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<Uuid>,
}

/// The body of `POST /v1/tenants/{id}/cancel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelTenant {
    pub reason: String,
}

/// The body of `PATCH /v1/tenants/{id}` (at least one field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateTenant {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
}
