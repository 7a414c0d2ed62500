//! `TenantProvisioning` (`tenant-provision-{tenantId}`): validate, create the
//! tenant and its sequence row, create the admin, initial data (the menu as
//! events), activate. Each step is one idempotent activity with a
//! compensation; on a failure or a `cancel` signal the steps done are
//! compensated in reverse and a tombstone remains. `update` signals are
//! applied before the next step (once the tenant row exists). The `progress`
//! query answers {percent, step, steps, completed, error?}; the same progress
//! is written to Postgres by each step.

use kitchen_adapters::postgres::lifecycle::Tombstone;
use kitchen_domain::platform::{Progress, Step};
use serde::{Deserialize, Serialize};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{SyncWorkflowContext, WorkflowContext, WorkflowContextView, WorkflowResult};

use super::activities::{
    CompensateInput, FinishInput, LifecycleActivities, StepInput, StepResult, TombstoneInput,
};
use super::CommandSignal;
use crate::workflow::{step_options, CommandRef};

/// How a saga ended: `active`, `failed` or `cancelled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionOutcome {
    pub status: String,
}

#[workflow]
#[derive(Default)]
pub struct TenantProvisioning {
    progress: Progress,
    cancel: Option<CommandSignal>,
    updates: Vec<CommandSignal>,
}

/// Ends command `signal` as rejected with `code` (it came too late).
fn rejected(command: &CommandRef, signal: CommandSignal, code: &str, reason: &str) -> FinishInput {
    FinishInput {
        tenant_id: command.tenant_id,
        command_id: signal.command_id,
        status: "rejected".into(),
        code: Some(code.into()),
        reason: Some(reason.into()),
    }
}

#[workflow_methods]
impl TenantProvisioning {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        command: CommandRef,
    ) -> WorkflowResult<ProvisionOutcome> {
        let mut done: Vec<Step> = Vec::new();
        for step in Step::ALL {
            if let Some(cancel) = ctx.state(|s| s.cancel) {
                let reason = ctx
                    .execute_activity(
                        LifecycleActivities::cancel_reason,
                        CommandRef {
                            tenant_id: command.tenant_id,
                            command_id: cancel.command_id,
                        },
                        step_options(),
                    )
                    .await?;
                Self::unwind(ctx, &command, &done, step, "cancelled", reason).await?;
                let finish = FinishInput {
                    tenant_id: command.tenant_id,
                    command_id: cancel.command_id,
                    status: "succeeded".into(),
                    code: None,
                    reason: None,
                };
                ctx.execute_activity(LifecycleActivities::finish_command, finish, step_options())
                    .await?;
                return Ok(ProvisionOutcome {
                    status: "cancelled".into(),
                });
            }
            if done.contains(&Step::CreateTenant) {
                Self::apply_updates(ctx, &command).await?;
            }
            let after = ctx.state(|s| s.progress.completed(step));
            let input = StepInput {
                tenant_id: command.tenant_id,
                command_id: command.command_id,
                step,
                progress: after.clone(),
            };
            let result = ctx
                .execute_activity(LifecycleActivities::run_step, input, step_options())
                .await?;
            match result {
                StepResult::Done => {
                    done.push(step);
                    ctx.state_mut(|s| s.progress = after);
                }
                StepResult::Failed { reason } => {
                    Self::unwind(ctx, &command, &done, step, "failed", reason).await?;
                    return Ok(ProvisionOutcome {
                        status: "failed".into(),
                    });
                }
            }
        }
        // Active. Updates that came during the last step apply directly; a
        // cancel that came during it is too late.
        Self::apply_updates(ctx, &command).await?;
        if let Some(cancel) = ctx.state(|s| s.cancel) {
            let late = rejected(
                &command,
                cancel,
                "tenant_already_active",
                "the tenant became active before the cancel took effect",
            );
            ctx.execute_activity(LifecycleActivities::finish_command, late, step_options())
                .await?;
        }
        Ok(ProvisionOutcome {
            status: "active".into(),
        })
    }

    /// Compensates `done` in reverse, then leaves the tombstone (`status` at
    /// `step`, with `reason`); updates still pending end rejected.
    async fn unwind(
        ctx: &mut WorkflowContext<Self>,
        command: &CommandRef,
        done: &[Step],
        step: Step,
        status: &str,
        reason: String,
    ) -> WorkflowResult<()> {
        let progress = ctx.state_mut(|s| {
            s.progress = s.progress.failed(step, reason.clone());
            s.progress.clone()
        });
        let tombstone = Tombstone {
            status: status.into(),
            step: step.name().into(),
            reason,
        };
        for undo in done.iter().rev() {
            let input = CompensateInput {
                tenant_id: command.tenant_id,
                step: *undo,
                tombstone: tombstone.clone(),
                progress: progress.clone(),
            };
            ctx.execute_activity(LifecycleActivities::compensate, input, step_options())
                .await?;
        }
        let input = TombstoneInput {
            tenant_id: command.tenant_id,
            command_id: command.command_id,
            tombstone,
            progress,
        };
        ctx.execute_activity(LifecycleActivities::tombstone, input, step_options())
            .await?;
        Self::apply_updates(ctx, command).await
    }

    /// Applies the updates signalled so far, in order (each ends its command).
    async fn apply_updates(
        ctx: &mut WorkflowContext<Self>,
        command: &CommandRef,
    ) -> WorkflowResult<()> {
        let pending = ctx.state_mut(|s| std::mem::take(&mut s.updates));
        for update in pending {
            let input = CommandRef {
                tenant_id: command.tenant_id,
                command_id: update.command_id,
            };
            ctx.execute_activity(LifecycleActivities::apply_update, input, step_options())
                .await?;
        }
        Ok(())
    }

    /// Cancels the saga before its next step (the first cancel counts).
    #[signal]
    pub fn cancel(&mut self, _ctx: &mut SyncWorkflowContext<Self>, signal: CommandSignal) {
        if self.cancel.is_none() {
            self.cancel = Some(signal);
        }
    }

    /// Renames the tenant or changes its plan before the next step.
    #[signal]
    pub fn update(&mut self, _ctx: &mut SyncWorkflowContext<Self>, signal: CommandSignal) {
        if !self.updates.contains(&signal) {
            self.updates.push(signal);
        }
    }

    #[query]
    pub fn progress(&self, _ctx: &WorkflowContextView) -> Progress {
        self.progress.clone()
    }
}
