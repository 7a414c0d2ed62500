//! `JobScheduler` on Temporal: routes each command by type (the [`Route`]
//! table): starts the command workflow or a tenant workflow, or signals a
//! tenant workflow with the command's id. Starting an id that exists (running
//! or closed) is success, which makes dispatch idempotent; a signal for a
//! workflow not started yet fails (the pump retries with backoff); one for a
//! closed workflow refuses the command with a code.

use kitchen_domain::platform;
use kitchen_domain::ports::{BackendError, JobScheduler, Scheduled};
use kitchen_domain::usecase::Rejected;
use kitchen_domain::{CommandId, CorrelationId, TenantId};
use temporalio_client::errors::{WorkflowInteractionError, WorkflowStartError};
use temporalio_client::{
    Client, WorkflowDescribeOptions, WorkflowIdReusePolicy, WorkflowSignalOptions,
    WorkflowStartOptions,
};
use temporalio_common::{MemoValues, Priority};

/// Memo key of the command's correlation id.
pub const MEMO_CORRELATION_ID: &str = "correlationId";
/// Memo key of the command's type.
pub const MEMO_COMMAND_TYPE: &str = "commandType";

use crate::tenant::{
    offboard_workflow_id, provision_workflow_id, update_workflow_id, CommandSignal,
    TenantOffboarding, TenantProvisioning, TenantUpdate,
};
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

/// What the pump does with a command, by type: the routing table (README,
/// "Tenant lifecycle"). Every other type starts the command workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Start the command workflow `{tenant}-{command}`.
    Command,
    /// `tenant.provision`: start `tenant-provision-{tenant}`.
    StartProvisioning,
    /// `tenant.cancel`: signal `cancel` to `tenant-provision-{tenant}`.
    SignalCancel,
    /// `tenant.update`: signal `update` to `tenant-provision-{tenant}`; once
    /// that workflow is closed, start `tenant-update-{command}` instead.
    SignalUpdateOrStart,
    /// `tenant.offboard`: start `tenant-offboard-{tenant}`.
    StartOffboarding,
    /// `tenant.restore`: signal `restore` to `tenant-offboard-{tenant}`.
    SignalRestore,
}

impl Route {
    pub fn of(command_type: &str) -> Route {
        match command_type {
            platform::PROVISION => Route::StartProvisioning,
            platform::CANCEL => Route::SignalCancel,
            platform::UPDATE => Route::SignalUpdateOrStart,
            platform::OFFBOARD => Route::StartOffboarding,
            platform::RESTORE => Route::SignalRestore,
            _ => Route::Command,
        }
    }
}

/// Where a signal's workflow is.
enum Target {
    Signalled,
    /// Not started yet (its start command is still on its way): retry later.
    NotYet,
    Closed,
}

impl TemporalScheduler {
    /// Every workflow carries its tenant as fairness key: with fairness on in
    /// the server (`matching.enableFairness`, scripts/lib.sh), Temporal's
    /// matching deals the task queue's tasks round robin over tenants, as
    /// the pump deals start slots, instead of one FIFO for all (a tenant's
    /// commands in flight then never sit ahead of another tenant's next
    /// workflow or activity task). Without it the key is carried and ignored.
    fn options(
        &self,
        tenant: TenantId,
        id: &str,
        reuse: WorkflowIdReusePolicy,
        memo: MemoValues,
    ) -> WorkflowStartOptions {
        WorkflowStartOptions::new(self.task_queue.clone(), id.to_owned())
            .id_reuse_policy(reuse)
            .memo(memo)
            .priority(Priority::builder().fairness_key(tenant.to_string()).build())
            .build()
    }

    /// Starts `workflow` as `id`; an id already started counts as dispatched.
    async fn start<W>(
        &self,
        workflow: W,
        input: W::Input,
        options: WorkflowStartOptions,
    ) -> Result<Scheduled, BackendError>
    where
        W: temporalio_common::HasWorkflowDefinition,
        W::Input: Send,
    {
        let id = options.workflow_id.clone();
        match self.client.start_workflow(workflow, input, options).await {
            Ok(_) => Ok(Scheduled {
                workflow_id: id,
                newly_started: true,
                refused: None,
            }),
            Err(WorkflowStartError::AlreadyStarted { .. }) => {
                tracing::debug!(workflow_id = %id, "workflow already started; counted as dispatched");
                Ok(Scheduled {
                    workflow_id: id,
                    newly_started: false,
                    refused: None,
                })
            }
            Err(e) => Err(Box::new(e)),
        }
    }

    /// Signals `signal` (the command id only) to workflow `id`. A workflow
    /// that does not exist yet and one that is closed are told apart by
    /// describing it (a signal's NotFound says neither).
    async fn signal<W, S>(
        &self,
        id: &str,
        signal: S,
        command: CommandId,
    ) -> Result<Target, BackendError>
    where
        W: temporalio_common::HasWorkflowDefinition,
        S: temporalio_common::SignalDefinition<Workflow = W::Run, Input = CommandSignal>,
    {
        let handle = self.client.get_workflow_handle::<W>(id);
        let input = CommandSignal {
            command_id: command,
        };
        match handle
            .signal(signal, input, WorkflowSignalOptions::default())
            .await
        {
            Ok(()) => Ok(Target::Signalled),
            Err(WorkflowInteractionError::NotFound(_)) => {
                match handle.describe(WorkflowDescribeOptions::default()).await {
                    Ok(_) => Ok(Target::Closed),
                    Err(WorkflowInteractionError::NotFound(_)) => Ok(Target::NotYet),
                    Err(e) => Err(Box::new(e)),
                }
            }
            Err(e) => Err(Box::new(e)),
        }
    }

    fn signalled(id: String, target: Target, closed_code: &str) -> Result<Scheduled, BackendError> {
        match target {
            Target::Signalled => Ok(Scheduled {
                workflow_id: id,
                newly_started: false,
                refused: None,
            }),
            Target::NotYet => Err(format!("workflow {id} has not started yet").into()),
            Target::Closed => Ok(Scheduled {
                workflow_id: id.clone(),
                newly_started: false,
                refused: Some(Rejected {
                    code: closed_code.to_owned(),
                    reason: format!("workflow {id} is closed"),
                }),
            }),
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
        // Ids only (never the payload): `temporal workflow describe` and
        // `list -o json` show which correlation and command type a workflow runs.
        let mut memo = MemoValues::new();
        memo.insert(MEMO_CORRELATION_ID, correlation.to_string());
        memo.insert(MEMO_COMMAND_TYPE, command_type.to_owned());
        let input = CommandRef {
            tenant_id: tenant,
            command_id: command,
        };
        // A workflow id is used once, ever (a re-dispatch after it closed must
        // not run the command again), but for offboarding: a restored tenant
        // may be offboarded again.
        let once = WorkflowIdReusePolicy::RejectDuplicate;
        match Route::of(command_type) {
            Route::Command => {
                let options = self.options(tenant, &workflow_id(tenant, command), once, memo);
                self.start(CommandWorkflow::run, input, options).await
            }
            Route::StartProvisioning => {
                let options = self.options(tenant, &provision_workflow_id(tenant), once, memo);
                self.start(TenantProvisioning::run, input, options).await
            }
            Route::StartOffboarding => {
                let reuse = WorkflowIdReusePolicy::AllowDuplicate;
                let options = self.options(tenant, &offboard_workflow_id(tenant), reuse, memo);
                self.start(TenantOffboarding::run, input, options).await
            }
            Route::SignalCancel => {
                let id = provision_workflow_id(tenant);
                let target = self
                    .signal::<TenantProvisioning, _>(&id, TenantProvisioning::cancel, command)
                    .await?;
                Self::signalled(id, target, "provisioning_over")
            }
            Route::SignalRestore => {
                let id = offboard_workflow_id(tenant);
                let target = self
                    .signal::<TenantOffboarding, _>(&id, TenantOffboarding::restore, command)
                    .await?;
                Self::signalled(id, target, "offboarding_over")
            }
            Route::SignalUpdateOrStart => {
                let id = provision_workflow_id(tenant);
                let target = self
                    .signal::<TenantProvisioning, _>(&id, TenantProvisioning::update, command)
                    .await?;
                match target {
                    Target::Closed => {
                        let options =
                            self.options(tenant, &update_workflow_id(command), once, memo);
                        self.start(TenantUpdate::run, input, options).await
                    }
                    other => Self::signalled(id, other, "provisioning_over"),
                }
            }
        }
    }
}
