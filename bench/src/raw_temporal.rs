//! The raw-Temporal baseline: a trivial workflow of the same shape as the
//! command workflow (one local activity, id reuse rejected, same input), with
//! no database, started and awaited through the same dev server.
#![allow(unreachable_pub, missing_debug_implementations)] // the SDK macros generate these items

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use kitchen_adapters::config::TemporalSettings;
use kitchen_domain::{CommandId, TenantId};
use kitchen_temporal::CommandRef;
use temporalio_client::{
    Client, WorkflowGetResultOptions, WorkflowIdReusePolicy, WorkflowStartOptions,
};
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{
    ActivityOptions, LocalActivityOptions, Runtime, Worker, WorkerOptions, WorkflowContext,
    WorkflowResult,
};

use crate::load::Op;

#[workflow]
#[derive(Default)]
pub struct TrivialWorkflow;

#[workflow_methods]
impl TrivialWorkflow {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        command: CommandRef,
    ) -> WorkflowResult<String> {
        let options = LocalActivityOptions::builder()
            .start_to_close_timeout(Duration::from_secs(30))
            .build();
        Ok(ctx
            .execute_local_activity(TrivialActivities::echo, command, options)
            .await?)
    }
}

/// The raw baseline of the provisioning saga (row 10): as many regular
/// activities, one after another, as the saga has steps, each doing nothing.
#[workflow]
#[derive(Default)]
pub struct TrivialSaga;

#[workflow_methods]
impl TrivialSaga {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        command: CommandRef,
    ) -> WorkflowResult<String> {
        let mut last = String::new();
        for _ in 0..SAGA_STEPS {
            let options = ActivityOptions::start_to_close_timeout(Duration::from_secs(30));
            last = ctx
                .execute_activity(TrivialActivities::echo, command.clone(), options)
                .await?;
        }
        Ok(last)
    }
}

/// The provisioning saga's steps (validate, tenant, admin, initial data, activate).
pub const SAGA_STEPS: usize = kitchen_domain::platform::Step::ALL.len();

pub struct TrivialActivities;

#[activities]
impl TrivialActivities {
    /// Does nothing but answer: the workflow's cost without a database.
    #[activity]
    pub async fn echo(
        self: Arc<Self>,
        _ctx: ActivityContext,
        command: CommandRef,
    ) -> Result<String, ActivityError> {
        Ok(command.command_id.to_string())
    }
}

/// The raw baseline of a row: a worker for the trivial workflows on a task
/// queue of its own, and a client to start them.
pub struct Raw {
    _worker: RawWorker,
    client: Client,
    task_queue: String,
}

impl Raw {
    pub async fn start(settings: &TemporalSettings) -> anyhow::Result<Raw> {
        let mut own = settings.clone();
        own.task_queue = format!("bench-raw-{}", uuid::Uuid::new_v4());
        let worker = RawWorker::start(&own);
        let client = kitchen_temporal::connect_with_retry(settings, "bench-client").await?;
        Ok(Raw {
            _worker: worker,
            client,
            task_queue: own.task_queue,
        })
    }

    /// The trivial workflow of the command workflow's shape.
    pub fn op(&self) -> Op {
        op(self.client.clone(), self.task_queue.clone())
    }

    /// The trivial saga (row 10).
    pub fn saga_op(&self) -> Op {
        saga_op(self.client.clone(), self.task_queue.clone())
    }
}

/// A worker for the trivial workflow on its own thread (the SDK's worker
/// future is not Send); stopped when dropped.
pub struct RawWorker {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl RawWorker {
    pub fn start(settings: &TemporalSettings) -> RawWorker {
        let settings = settings.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let sdk =
                    Runtime::from_current_tokio(Default::default()).context("Temporal runtime")?;
                let client =
                    kitchen_temporal::connect_with_retry(&settings, "bench-raw-worker").await?;
                let options = WorkerOptions::new(settings.task_queue.clone())
                    .register_workflow::<TrivialWorkflow>()?
                    .register_workflow::<TrivialSaga>()?
                    .register_activities(TrivialActivities)
                    .build();
                let mut worker = Worker::new(&sdk, client, options).context("raw worker")?;
                let shutdown = worker.shutdown_handle();
                tokio::spawn(async move {
                    let _ = stopped.await;
                    shutdown();
                });
                worker.run().await.context("raw worker stopped")?;
                Ok(())
            })
        });
        RawWorker {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for RawWorker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A [`Start`] of workflow `$run` (what it is called in errors: `$what`).
macro_rules! start {
    ($run:path, $what:literal) => {
        Arc::new(|client: Client, input, options| {
            Box::pin(async move {
                let handle = client
                    .start_workflow($run, input, options)
                    .await
                    .context(concat!("starting the ", $what))?;
                handle
                    .get_result(WorkflowGetResultOptions::default())
                    .await
                    .context(concat!("awaiting the ", $what))?;
                Ok(())
            })
        })
    };
}

/// Start the trivial workflow and await its result: one operation.
pub fn op(client: Client, task_queue: String) -> Op {
    timed(
        client,
        task_queue,
        start!(TrivialWorkflow::run, "trivial workflow"),
    )
}

/// Start the trivial saga (row 10's baseline) and await its result.
pub fn saga_op(client: Client, task_queue: String) -> Op {
    timed(client, task_queue, start!(TrivialSaga::run, "trivial saga"))
}

/// Starts one workflow (of a given type) and awaits it.
type Start = Arc<
    dyn Fn(
            Client,
            CommandRef,
            WorkflowStartOptions,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>>
        + Send
        + Sync,
>;

/// An operation: a fresh workflow id, `start`, and the time it took.
fn timed(client: Client, task_queue: String, start: Start) -> Op {
    Arc::new(move |_| {
        let (client, task_queue, start) = (client.clone(), task_queue.clone(), start.clone());
        Box::pin(async move {
            let input = CommandRef {
                tenant_id: TenantId::new_random(),
                command_id: CommandId::new_random(),
            };
            let id = kitchen_temporal::workflow_id(input.tenant_id, input.command_id);
            let started = Instant::now();
            let options = WorkflowStartOptions::new(task_queue, id)
                .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
                .build();
            start(client, input, options).await?;
            Ok(started.elapsed())
        })
    })
}
