//! `JobScheduler` on Temporal: starts the command workflow. Starting an id that
//! exists (running or closed) is success, which makes dispatch idempotent.

use kitchen_domain::ports::{BackendError, JobScheduler, Scheduled};
use kitchen_domain::{CommandId, TenantId};
use temporalio_client::errors::WorkflowStartError;
use temporalio_client::{Client, WorkflowIdReusePolicy, WorkflowStartOptions};

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
        _command_type: &str,
    ) -> Result<Scheduled, BackendError> {
        let id = workflow_id(tenant, command);
        let options = WorkflowStartOptions::new(self.task_queue.clone(), id.clone())
            // A workflow id is used once, ever: a re-dispatch after it closed must
            // not run the command again.
            .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
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
