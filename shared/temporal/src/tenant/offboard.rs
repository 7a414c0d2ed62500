//! `TenantOffboarding` (`tenant-offboard-{tenantId}`): disable at once (the
//! tenant is no longer served), export its events and state as JSON lines
//! (downloadable until erasure), wait the grace period on a durable timer —
//! a `restore` signal ends it, making the tenant active again — then erase
//! through `erase_tenant()`, leaving the `erased` tombstone.

use std::time::Duration;

use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{SyncWorkflowContext, WorkflowContext, WorkflowResult};

use super::activities::{FinishInput, LifecycleActivities, RestoreInput};
use super::CommandSignal;
use crate::workflow::{step_options, CommandRef};

#[workflow]
#[derive(Default)]
pub struct TenantOffboarding {
    restore: Option<CommandSignal>,
}

#[workflow_methods]
impl TenantOffboarding {
    /// `erased`, `restored`, or `rejected` (the tenant was not active).
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        command: CommandRef,
    ) -> WorkflowResult<String> {
        let grace = ctx
            .execute_activity(
                LifecycleActivities::disable_tenant,
                command.clone(),
                step_options(),
            )
            .await?;
        let Some(grace_secs) = grace else {
            let finish = FinishInput {
                tenant_id: command.tenant_id,
                command_id: command.command_id,
                status: "rejected".into(),
                code: Some("wrong_tenant_state".into()),
                reason: Some("the tenant is not active".into()),
            };
            ctx.execute_activity(LifecycleActivities::finish_command, finish, step_options())
                .await?;
            return Ok("rejected".into());
        };
        ctx.execute_activity(
            LifecycleActivities::export_tenant,
            command.clone(),
            step_options(),
        )
        .await?;
        let restored = temporalio_sdk::workflows::select! {
            _ = ctx.timer(Duration::from_secs(grace_secs)) => None,
            _ = ctx.wait_condition(|s: &Self| s.restore.is_some()) => ctx.state(|s| s.restore),
        };
        if let Some(restore) = restored {
            let input = RestoreInput {
                tenant_id: command.tenant_id,
                offboard_id: command.command_id,
                restore_id: restore.command_id,
            };
            ctx.execute_activity(LifecycleActivities::restore_tenant, input, step_options())
                .await?;
            return Ok("restored".into());
        }
        ctx.execute_activity(LifecycleActivities::erase_tenant, command, step_options())
            .await?;
        Ok("erased".into())
    }

    /// Restores the tenant (during the grace period).
    #[signal]
    pub fn restore(&mut self, _ctx: &mut SyncWorkflowContext<Self>, signal: CommandSignal) {
        if self.restore.is_none() {
            self.restore = Some(signal);
        }
    }
}
