//! The command workflow (DESIGN.md section 6): run the command in one local
//! activity; if it created an order scheduled for later, sleep on a durable
//! workflow timer and then append the order's due event.
#![allow(unreachable_pub, missing_debug_implementations)] // the SDK macros generate these items

use std::sync::Arc;
use std::time::Duration;

use kitchen_adapters::postgres::command_runner::{CommandRunner, RunOutcome};
use kitchen_domain::{CommandId, TenantId};
use serde::{Deserialize, Serialize};
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{LocalActivityOptions, WorkflowContext, WorkflowResult};

/// The workflow's input: which command to run. The payload stays in Postgres.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandRef {
    pub tenant_id: TenantId,
    pub command_id: CommandId,
}

/// `{tenant_id}-{command_id}`: one workflow per command, ever.
pub fn workflow_id(tenant: TenantId, command: CommandId) -> String {
    format!("{tenant}-{command}")
}

fn activity_options() -> LocalActivityOptions {
    LocalActivityOptions::builder()
        .start_to_close_timeout(Duration::from_secs(30))
        .build()
}

#[workflow]
#[derive(Default)]
pub struct CommandWorkflow;

#[workflow_methods]
impl CommandWorkflow {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        command: CommandRef,
    ) -> WorkflowResult<RunOutcome> {
        let outcome = ctx
            .execute_local_activity(
                CommandActivities::run_command,
                command.clone(),
                activity_options(),
            )
            .await?;
        if let RunOutcome::Succeeded {
            due_in_ms: Some(ms),
            ..
        } = &outcome
        {
            // A real workflow timer: durable across worker restarts.
            ctx.timer(Duration::from_millis(*ms)).await;
            ctx.execute_local_activity(CommandActivities::mark_due, command, activity_options())
                .await?;
        }
        Ok(outcome)
    }
}

/// The activities, holding the Postgres runner.
#[derive(Debug)]
pub struct CommandActivities {
    runner: CommandRunner,
}

impl CommandActivities {
    pub fn new(runner: CommandRunner) -> Self {
        Self { runner }
    }
}

#[activities]
impl CommandActivities {
    /// Runs the command in one Postgres transaction. Errors are infrastructure
    /// failures and are retried by Temporal; rejections are outcomes.
    #[activity]
    pub async fn run_command(
        self: Arc<Self>,
        _ctx: ActivityContext,
        command: CommandRef,
    ) -> Result<RunOutcome, ActivityError> {
        self.runner
            .run(command.tenant_id, command.command_id)
            .await
            .map_err(|e| {
                tracing::warn!(cause = %e, tenant_id = %command.tenant_id, command_id = %command.command_id, "command attempt failed; Temporal will retry");
                ActivityError::from(e)
            })
    }

    /// Appends the due event of a scheduled order. Returns its seq, if any.
    #[activity]
    pub async fn mark_due(
        self: Arc<Self>,
        _ctx: ActivityContext,
        command: CommandRef,
    ) -> Result<Option<i64>, ActivityError> {
        self.runner
            .mark_due(command.tenant_id, command.command_id)
            .await
            .map_err(ActivityError::from)
    }
}
