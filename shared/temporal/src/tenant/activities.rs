//! The lifecycle activities: thin wrappers over the Postgres
//! `LifecycleStore`, one transaction each. A final error (invalid input, a
//! missing command, an injected fault) is not retried; anything else is, with
//! Temporal's backoff.

use std::sync::Arc;
use std::time::Duration;

use kitchen_adapters::postgres::lifecycle::{LifecycleError, LifecycleStore, Tombstone};
use kitchen_domain::platform::{Progress, Step};
use kitchen_domain::{CommandId, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::json;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::ApplicationFailure;

use crate::workflow::CommandRef;

/// Run `step` for the tenant of provisioning command `command_id`; `progress`
/// is the progress once it is done (written with the step's work).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepInput {
    pub tenant_id: TenantId,
    pub command_id: CommandId,
    pub step: Step,
    pub progress: Progress,
}

/// What a step reached: done, or failed for good (the saga compensates).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "result")]
pub enum StepResult {
    Done,
    Failed { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompensateInput {
    pub tenant_id: TenantId,
    pub step: Step,
    pub tombstone: Tombstone,
    /// The saga's progress with its error, shown with the tombstone.
    pub progress: Progress,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TombstoneInput {
    pub tenant_id: TenantId,
    pub command_id: CommandId,
    pub tombstone: Tombstone,
    pub progress: Progress,
}

/// End command `command_id` with `status` (`succeeded`, or `rejected` with `code`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FinishInput {
    pub tenant_id: TenantId,
    pub command_id: CommandId,
    pub status: String,
    pub code: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreInput {
    pub tenant_id: TenantId,
    pub offboard_id: CommandId,
    pub restore_id: CommandId,
}

/// The lifecycle activities, holding the Postgres store and the grace period.
#[derive(Debug)]
pub struct LifecycleActivities {
    store: LifecycleStore,
    grace: Duration,
}

impl LifecycleActivities {
    /// `grace`: how long an offboarded tenant waits before erasure
    /// (`[platform] offboard_grace_secs`; read by the disable activity, so it
    /// is recorded in each offboarding's history).
    pub fn new(store: LifecycleStore, grace: Duration) -> Self {
        Self { store, grace }
    }
}

fn activity_error(e: LifecycleError) -> ActivityError {
    if e.is_final() {
        tracing::warn!(cause = %e, "lifecycle activity failed for good");
        ActivityError::application(ApplicationFailure::non_retryable(e))
    } else {
        tracing::warn!(cause = %e, "lifecycle activity failed; Temporal will retry");
        ActivityError::from(e)
    }
}

#[activities]
impl LifecycleActivities {
    #[activity]
    pub async fn run_step(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: StepInput,
    ) -> Result<StepResult, ActivityError> {
        if let Err(reason) = crate::faults::before_step(input.tenant_id, input.step).await {
            return Ok(StepResult::Failed { reason });
        }
        match self
            .store
            .run_step(
                input.tenant_id,
                input.command_id,
                input.step,
                input.progress,
            )
            .await
        {
            Ok(()) => Ok(StepResult::Done),
            Err(e) if e.is_final() => Ok(StepResult::Failed {
                reason: e.to_string(),
            }),
            Err(e) => Err(activity_error(e)),
        }
    }

    #[activity]
    pub async fn compensate(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: CompensateInput,
    ) -> Result<(), ActivityError> {
        self.store
            .compensate(input.tenant_id, input.step, input.tombstone, input.progress)
            .await
            .map_err(activity_error)
    }

    #[activity]
    pub async fn tombstone(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: TombstoneInput,
    ) -> Result<(), ActivityError> {
        self.store
            .tombstone(
                input.tenant_id,
                input.command_id,
                input.tombstone,
                input.progress,
            )
            .await
            .map_err(activity_error)
    }

    #[activity]
    pub async fn cancel_reason(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: CommandRef,
    ) -> Result<String, ActivityError> {
        self.store
            .cancel_reason(input.tenant_id, input.command_id)
            .await
            .map_err(activity_error)
    }

    #[activity]
    pub async fn finish_command(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: FinishInput,
    ) -> Result<(), ActivityError> {
        let status = if input.status == "succeeded" {
            "succeeded"
        } else {
            "rejected"
        };
        let error = input
            .code
            .map(|code| json!({"code": code, "reason": input.reason.unwrap_or_default()}));
        self.store
            .finish(input.tenant_id, input.command_id, status, error)
            .await
            .map_err(activity_error)
    }

    #[activity]
    pub async fn apply_update(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: CommandRef,
    ) -> Result<bool, ActivityError> {
        self.store
            .apply_update(input.tenant_id, input.command_id)
            .await
            .map_err(activity_error)
    }

    /// Disables the tenant; the grace period in seconds, or `None` when the
    /// tenant was not active (nothing to offboard).
    #[activity]
    pub async fn disable_tenant(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: CommandRef,
    ) -> Result<Option<u64>, ActivityError> {
        let disabled = self
            .store
            .disable(input.tenant_id)
            .await
            .map_err(activity_error)?;
        Ok(disabled.then_some(self.grace.as_secs()))
    }

    #[activity]
    pub async fn export_tenant(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: CommandRef,
    ) -> Result<i64, ActivityError> {
        self.store
            .export(input.tenant_id)
            .await
            .map_err(activity_error)
    }

    #[activity]
    pub async fn restore_tenant(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: RestoreInput,
    ) -> Result<(), ActivityError> {
        self.store
            .restore(input.tenant_id, input.offboard_id, input.restore_id)
            .await
            .map_err(activity_error)
    }

    #[activity]
    pub async fn erase_tenant(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: CommandRef,
    ) -> Result<i64, ActivityError> {
        self.store
            .erase_offboarded(input.tenant_id, input.command_id)
            .await
            .map_err(activity_error)
    }
}
