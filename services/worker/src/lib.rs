//! worker: a Temporal worker running the command workflow (see
//! `kitchen-temporal`) with activities that talk to Postgres as `kitchen_worker`.
#![forbid(unsafe_code)]

use std::future::Future;

use anyhow::Context;
use kitchen_adapters::config::Settings;
use kitchen_adapters::postgres::unit_of_work::CommandUnitOfWork;
use kitchen_adapters::postgres::PgPool;
use kitchen_temporal::{CommandActivities, CommandWorkflow};
use temporalio_sdk::{Runtime, Worker, WorkerOptions};

/// Polls `settings.temporal.task_queue` until `shutdown` resolves, then lets
/// in-flight tasks finish.
pub async fn run(
    settings: &Settings,
    pool: PgPool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let runtime = Runtime::from_current_tokio(Default::default()).context("Temporal runtime")?;
    let client = kitchen_temporal::connect_with_retry(&settings.temporal, "kitchen-worker")
        .await
        .context("connecting to Temporal")?;
    let options = WorkerOptions::new(settings.temporal.task_queue.clone())
        .register_workflow::<CommandWorkflow>()?
        .register_activities(CommandActivities::new(CommandUnitOfWork::new(pool)))
        .build();
    let mut worker = Worker::new(&runtime, client, options).context("creating the worker")?;
    let stop = worker.shutdown_handle();
    tokio::spawn(async move {
        shutdown.await;
        stop();
    });
    tracing::info!(task_queue = %settings.temporal.task_queue, "worker polling");
    worker.run().await.context("worker stopped with an error")?;
    tracing::info!("worker stopped");
    Ok(())
}
