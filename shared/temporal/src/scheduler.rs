//! `JobScheduler` on Temporal: starts the command workflow. Starting an id that
//! exists (running or closed) is success, which makes dispatch idempotent.

use kitchen_domain::ports::{BackendError, JobScheduler, Scheduled};
use kitchen_domain::{CommandId, CorrelationId, TenantId};
use temporalio_client::errors::WorkflowStartError;
use temporalio_client::{Client, WorkflowIdReusePolicy, WorkflowStartOptions};
use temporalio_common::MemoValues;

/// Memo key of the command's correlation id.
pub const MEMO_CORRELATION_ID: &str = "correlationId";
/// Memo key of the command's type.
pub const MEMO_COMMAND_TYPE: &str = "commandType";

use crate::workflow::{workflow_id, CommandRef, CommandWorkflow};

#[derive(Clone)]
pub struct TemporalScheduler {
    client: Client,
    task_queue: String,
}

impl std::fmt::Debug for TemporalScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemporalScheduler")
            .field("task_queue", &self.task_queue)
            .finish()
    }
}

impl TemporalScheduler {
    pub fn new(client: Client, task_queue: impl Into<String>) -> Self {
        Self {
            client,
            task_queue: task_queue.into(),
        }
    }
}

impl JobScheduler for TemporalScheduler {
    async fn schedule(
        &self,
        tenant: TenantId,
        command: CommandId,
        command_type: &str,
        correlation: CorrelationId,
    ) -> Result<Scheduled, BackendError> {
        let id = workflow_id(tenant, command);
        // Ids only (never the payload): `temporal workflow describe` and
        // `list -o json` show which correlation and command type a workflow runs.
        let mut memo = MemoValues::new();
        memo.insert(MEMO_CORRELATION_ID, correlation.to_string());
        memo.insert(MEMO_COMMAND_TYPE, command_type.to_owned());
        let options = WorkflowStartOptions::new(self.task_queue.clone(), id.clone())
            // A workflow id is used once, ever: a re-dispatch after it closed must
            // not run the command again.
            .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
            .memo(memo)
            .build();
        let input = CommandRef {
            tenant_id: tenant,
            command_id: command,
        };
        match self
            .client
            .start_workflow(CommandWorkflow::run, input, options)
            .await
        {
            Ok(_) => Ok(Scheduled {
                workflow_id: id,
                newly_started: true,
            }),
            Err(WorkflowStartError::AlreadyStarted { .. }) => {
                tracing::debug!(workflow_id = %id, "workflow already started; counted as dispatched");
                Ok(Scheduled {
                    workflow_id: id,
                    newly_started: false,
                })
            }
            Err(e) => Err(Box::new(e)),
        }
    }
}
