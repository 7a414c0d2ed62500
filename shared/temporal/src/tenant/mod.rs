//! The tenant lifecycle on Temporal (DESIGN.md section 7): the provisioning
//! saga, offboarding, a direct update of an active tenant, and their
//! activities. Inputs, signals and results carry ids (and step names) only:
//! the payloads stay in Postgres and are read by the activities, so no
//! history holds a household's name, an email or a password.
#![allow(unreachable_pub, missing_debug_implementations)] // the SDK macros generate these items

mod activities;
mod offboard;
mod provision;
mod update;

pub use activities::LifecycleActivities;
pub use offboard::TenantOffboarding;
pub use provision::{ProvisionOutcome, TenantProvisioning};
pub use update::TenantUpdate;

use kitchen_domain::{CommandId, TenantId};
use serde::{Deserialize, Serialize};

/// A signal's input: the platform command to act on (its payload is read
/// from Postgres by an activity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandSignal {
    pub command_id: CommandId,
}

/// `tenant-provision-{tenantId}`: one provisioning saga per tenant, ever.
pub fn provision_workflow_id(tenant: TenantId) -> String {
    format!("tenant-provision-{tenant}")
}

/// `tenant-offboard-{tenantId}` (a tenant restored and offboarded again runs it anew).
pub fn offboard_workflow_id(tenant: TenantId) -> String {
    format!("tenant-offboard-{tenant}")
}

/// `tenant-update-{commandId}`: an update of a tenant whose saga is over.
pub fn update_workflow_id(command: CommandId) -> String {
    format!("tenant-update-{command}")
}
