//! `TenantUpdate` (`tenant-update-{commandId}`): applies a `tenant.update` to
//! a tenant whose provisioning saga is over (the pump starts it when the
//! saga's workflow is closed).

use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowResult};

use super::activities::LifecycleActivities;
use crate::workflow::{step_options, CommandRef};

#[workflow]
#[derive(Default)]
pub struct TenantUpdate;

#[workflow_methods]
impl TenantUpdate {
    /// Whether the update applied (false: the tenant is not provisioning or active).
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, command: CommandRef) -> WorkflowResult<bool> {
        Ok(ctx
            .execute_activity(LifecycleActivities::apply_update, command, step_options())
            .await?)
    }
}
