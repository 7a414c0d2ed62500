//! worker: a Temporal worker running the command workflow (see
//! `kitchen-temporal`) with activities that talk to Postgres as `kitchen_worker`.
#![forbid(unsafe_code)]

use std::time::Duration;

use anyhow::Context;
use kitchen_adapters::config::Settings;
use kitchen_adapters::postgres::lifecycle::LifecycleStore;
use kitchen_adapters::postgres::unit_of_work::CommandUnitOfWork;
use kitchen_adapters::postgres::PgPool;
use kitchen_adapters::shutdown::Shutdown;
use kitchen_temporal::tenant::{
    LifecycleActivities, TenantOffboarding, TenantProvisioning, TenantUpdate,
};
use kitchen_temporal::{CommandActivities, CommandWorkflow, WorkerMetrics};
use prometheus::Registry;
use temporalio_sdk::{Runtime, Worker, WorkerOptions};

/// After shutdown, how long the SDK lets running activities finish before it
/// cancels them.
const GRACEFUL_PERIOD: Duration = Duration::from_secs(5);

/// After shutdown, how long `run` waits for the SDK to wind down before it
/// abandons what is left. Abandoning is safe: an activity is one database
/// transaction (a cut one rolls back), Temporal hands the task to another
/// worker after its timeout, and the unit of work returns the stored outcome
/// if the command was already final. Inside the 10 s a service has to exit.
const ABANDON_AFTER: Duration = Duration::from_secs(8);

/// Polls `settings.temporal.task_queue` until `shutdown` fires, then stops
/// polling and lets in-flight tasks finish (see [`ABANDON_AFTER`]). The
/// worker's series go into `registry` (the one its `/metrics` serves).
pub async fn run(
    settings: &Settings,
    pool: PgPool,
    registry: &Registry,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let metrics = WorkerMetrics::register(registry).context("registering metrics")?;
    let runtime = Runtime::from_current_tokio(Default::default()).context("Temporal runtime")?;
    let client = tokio::select! {
        client = kitchen_temporal::connect_with_retry(&settings.temporal, "kitchen-worker") => {
            client.context("connecting to Temporal")?
        }
        () = shutdown.wait() => {
            tracing::info!("shut down before Temporal was reached");
            return Ok(());
        }
    };
    let w = &settings.worker;
    kitchen_temporal::set_activity_timeout(Duration::from_secs(w.activity_timeout_secs));
    let options = WorkerOptions::new(settings.temporal.task_queue.clone())
        .register_workflow::<CommandWorkflow>()?
        .register_workflow::<TenantProvisioning>()?
        .register_workflow::<TenantOffboarding>()?
        .register_workflow::<TenantUpdate>()?
        .register_activities(CommandActivities::new(
            CommandUnitOfWork::new(pool.clone()),
            metrics,
        ))
        .register_activities(LifecycleActivities::new(
            LifecycleStore::new(pool),
            Duration::from_secs(settings.platform.offboard_grace_secs),
        ))
        .graceful_shutdown_period(GRACEFUL_PERIOD)
        .build();
    let mut worker = Worker::new(&runtime, client, options).context("creating the worker")?;
    let stop = worker.shutdown_handle();
    let stopping = shutdown.wait_owned();
    tokio::spawn(async move {
        stopping.await;
        tracing::info!("worker draining");
        stop();
    });
    tracing::info!(task_queue = %settings.temporal.task_queue, "worker polling");
    let abandon = async {
        shutdown.wait().await;
        tokio::time::sleep(ABANDON_AFTER).await;
    };
    tokio::select! {
        result = worker.run() => result.context("worker stopped with an error")?,
        () = abandon => {
            tracing::warn!(after = ?ABANDON_AFTER, "worker did not drain in time; abandoning its tasks to Temporal's retries");
        }
    }
    tracing::info!("worker stopped");
    Ok(())
}
