//! Replay tests of the command workflow: histories recorded from real runs
//! (tests/histories/*.json) must replay against today's `CommandWorkflow`
//! without a nondeterminism error. A change to the workflow that would break
//! the workflows already running in production (new activities, a reordered
//! timer) fails here; guard such changes with `ctx.patched(..)`.
//!
//! The replay tests need neither Temporal nor Postgres: local activity results
//! come from the markers in the history, so no activity runs.
//!
//! Re-recording (only to add the shape of a NEW workflow version; keep the old
//! files, the running workflows still have those histories):
//!
//! ```text
//! KITCHEN__TEMPORAL__ADDRESS=http://127.0.0.1:<port> \
//!     cargo test -p worker --test replay -- --ignored record_command_workflow_histories
//! ```
//!
//! The JSON is `temporalio_client::WorkflowHistory::to_json`'s format (serde of
//! the `History` proto structs, payloads in base64), which is what
//! `WorkflowHistory::from_json` reads. It is NOT the proto-JSON of
//! `temporal workflow show --output json`.
#![allow(missing_debug_implementations)] // the SDK macros generate these items

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::secrets::assert_no_secrets;
use common::{create_order_payload, Stack};
use kitchen_domain::queue::CommandOutcome;
use kitchen_domain::CommandId;
use kitchen_temporal::{workflow_id, CommandActivities, CommandRef, CommandWorkflow};
use secrecy::ExposeSecret;
use temporalio_client::{Client, UntypedWorkflow, WorkflowFetchHistoryOptions, WorkflowHistory};
use temporalio_common::protos::temporal::api::enums::v1::EventType;
use temporalio_common::protos::temporal::api::history::v1::{History, HistoryEvent};
use temporalio_sdk::workflow_replayer::{
    WorkflowReplayError, WorkflowReplayFailure, WorkflowReplayer, WorkflowReplayerOptions,
};
use temporalio_sdk::{LocalActivityOptions, WorkflowContext, WorkflowResult};
use temporalio_workflow::{workflow, workflow_methods};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);
/// A scheduled order whose due timer is still running when recorded.
const PENDING_DUE_TIMER: &str = "command_workflow_pending_due_timer.json";
/// A scheduled order whose due timer fired and whose `mark_due` ran.
const DUE_TIMER_FIRED: &str = "command_workflow_due_timer_fired.json";

fn history_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/histories")
        .join(name)
}

fn load(name: &str) -> WorkflowHistory {
    let path = history_path(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    WorkflowHistory::from_json(&bytes).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// Replays `history` against workflow `W` (registered under its type name).
async fn replay<W>(history: WorkflowHistory) -> Result<(), WorkflowReplayError>
where
    W: temporalio_workflow::workflows::WorkflowImplementation,
    <W::Run as temporalio_common::WorkflowDefinition>::Input: Send,
{
    let options = WorkflowReplayerOptions::new()
        .register_workflow::<W>()
        .expect("register the workflow")
        .build();
    WorkflowReplayer::new(options)?
        .replay_workflow(history)
        .await
}

// ---------------------------------------------------------------------------
// Today's workflow against the recorded histories.

#[tokio::test]
async fn a_workflow_waiting_on_its_due_timer_replays_deterministically() {
    let result = replay::<CommandWorkflow>(load(PENDING_DUE_TIMER)).await;
    assert!(result.is_ok(), "replay failed: {result:?}");
}

#[tokio::test]
async fn a_workflow_whose_due_timer_fired_replays_deterministically() {
    let result = replay::<CommandWorkflow>(load(DUE_TIMER_FIRED)).await;
    assert!(result.is_ok(), "replay failed: {result:?}");
}

// ---------------------------------------------------------------------------
// Negative controls: workflows registered under the same type name
// ("CommandWorkflow") whose commands differ from the recorded ones. If these
// stopped failing, the replay tests above would prove nothing.

fn activity_options() -> LocalActivityOptions {
    LocalActivityOptions::builder()
        .start_to_close_timeout(Duration::from_secs(30))
        .build()
}

/// Starts a timer before running the command.
#[workflow]
#[derive(Default)]
pub struct TimerFirstCommandWorkflow;

#[workflow_methods]
impl TimerFirstCommandWorkflow {
    #[run(name = "CommandWorkflow")]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        command: CommandRef,
    ) -> WorkflowResult<Option<i64>> {
        ctx.timer(Duration::from_secs(1)).await;
        ctx.execute_local_activity(CommandActivities::mark_due, command, activity_options())
            .await?;
        Ok(None)
    }
}

fn assert_nondeterminism(result: Result<(), WorkflowReplayError>) {
    match result {
        Err(WorkflowReplayError::Replay(WorkflowReplayFailure::Nondeterminism { message })) => {
            eprintln!("nondeterminism detected, as expected: {message}");
        }
        other => panic!("expected a nondeterminism error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_timer_before_the_command_is_caught_as_nondeterministic_on_both_histories() {
    assert_nondeterminism(replay::<TimerFirstCommandWorkflow>(load(PENDING_DUE_TIMER)).await);
    assert_nondeterminism(replay::<TimerFirstCommandWorkflow>(load(DUE_TIMER_FIRED)).await);
}

/// Runs the command and waits on the due timer but never marks the order due.
#[workflow]
#[derive(Default)]
pub struct NoMarkDueCommandWorkflow;

#[workflow_methods]
impl NoMarkDueCommandWorkflow {
    #[run(name = "CommandWorkflow")]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        command: CommandRef,
    ) -> WorkflowResult<CommandOutcome> {
        let outcome = ctx
            .execute_local_activity(CommandActivities::run_command, command, activity_options())
            .await?;
        if let CommandOutcome::Succeeded {
            due_in_ms: Some(ms),
            ..
        } = &outcome
        {
            ctx.timer(Duration::from_millis(*ms)).await;
        }
        Ok(outcome)
    }
}

#[tokio::test]
async fn dropping_the_mark_due_activity_is_caught_as_nondeterministic() {
    // The pending history ends before `mark_due`: it cannot tell, and must not.
    let pending = replay::<NoMarkDueCommandWorkflow>(load(PENDING_DUE_TIMER)).await;
    assert!(pending.is_ok(), "replay failed: {pending:?}");
    assert_nondeterminism(replay::<NoMarkDueCommandWorkflow>(load(DUE_TIMER_FIRED)).await);
}

// ---------------------------------------------------------------------------
// The recorder.

fn scheduled_order(at: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
    let mut payload = create_order_payload(Uuid::new_v4());
    payload["userId"] = "u1".into();
    payload["items"] = serde_json::json!([{"menuItemId": "soup", "quantity": 1}]);
    payload["scheduledFor"] = serde_json::json!(at);
    payload
}

fn event_types(events: &[HistoryEvent]) -> Vec<EventType> {
    events.iter().map(HistoryEvent::event_type).collect()
}

fn count(events: &[HistoryEvent], t: EventType) -> usize {
    event_types(events).into_iter().filter(|e| *e == t).count()
}

/// Fetches the full history of `workflow` until `ready` holds for it.
async fn wait_history(
    client: &Client,
    workflow: &str,
    ready: impl Fn(&[HistoryEvent]) -> bool,
) -> Vec<HistoryEvent> {
    let deadline = Instant::now() + WAIT;
    loop {
        let events = client
            .get_workflow_handle::<UntypedWorkflow>(workflow)
            .fetch_history(WorkflowFetchHistoryOptions::builder().build())
            .into_events()
            .await
            .unwrap_or_else(|e| panic!("history of {workflow}: {e}"));
        if ready(&events) {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "history of {workflow} not ready in {WAIT:?}: {:?}",
            event_types(&events)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn save(name: &str, events: Vec<HistoryEvent>, secrets: &[String]) {
    let json = serde_json::to_string_pretty(&History {
        events: events.clone(),
    })
    .unwrap()
        + "\n";
    assert_no_secrets(name, &json, secrets);
    // What the replay tests read back must be exactly what was recorded.
    let reread = WorkflowHistory::from_json(json.as_bytes())
        .unwrap()
        .into_events()
        .await
        .unwrap();
    // (A timer longer than ~48 days would not: durations go through an f64.)
    assert_eq!(reread, events, "{name} does not round-trip");
    let path = history_path(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, json).unwrap();
    eprintln!("wrote {} ({} events)", path.display(), events.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "records tests/histories/*.json on a Temporal dev server; run by hand (module docs)"]
async fn record_command_workflow_histories() {
    let stack = Stack::full().await;
    let client = kitchen_temporal::connect(&stack.settings.temporal, "replay-recorder")
        .await
        .expect("connect to Temporal");
    let wf = |id: Uuid| workflow_id(stack.tenant, CommandId::from_uuid(id).expect("command id"));

    let now = chrono::Utc::now();
    // 30 days, not more: the JSON writes durations through an f64
    // (prost-wkt-types), exact to the nanosecond only below ~2^22 s (48 days).
    let pending = stack
        .post(
            "createOrder",
            scheduled_order(now + chrono::Duration::days(30)),
        )
        .await;
    let fired = stack
        .post(
            "createOrder",
            scheduled_order(now + chrono::Duration::seconds(2)),
        )
        .await;
    for id in [pending, fired] {
        assert_eq!(stack.wait_final(id, WAIT).await["status"], "succeeded");
    }

    // Waiting on its due timer: the command's marker, then the timer.
    let pending_events = wait_history(&client, &wf(pending), |e| {
        count(e, EventType::TimerStarted) == 1
    })
    .await;
    assert_eq!(count(&pending_events, EventType::MarkerRecorded), 1);
    assert_eq!(count(&pending_events, EventType::TimerFired), 0);
    assert_eq!(
        pending_events.last().map(HistoryEvent::event_type),
        Some(EventType::TimerStarted),
        "{:?}",
        event_types(&pending_events)
    );

    // Fired: the timer, `mark_due`'s marker, completion.
    let fired_events = wait_history(&client, &wf(fired), |e| {
        e.last().map(HistoryEvent::event_type) == Some(EventType::WorkflowExecutionCompleted)
    })
    .await;
    assert_eq!(count(&fired_events, EventType::MarkerRecorded), 2);
    assert_eq!(count(&fired_events, EventType::TimerFired), 1);

    let s = &stack.settings;
    let secrets: Vec<String> = [
        &s.auth.hs256_secret,
        &s.database.admin.password,
        &s.database.roles.owner,
        &s.database.roles.gateway,
        &s.database.roles.pump,
        &s.database.roles.worker,
        &s.database.roles.realtime,
    ]
    .into_iter()
    .map(|secret| secret.expose_secret().to_owned())
    .chain([stack.token()])
    .collect();
    save(PENDING_DUE_TIMER, pending_events, &secrets).await;
    save(DUE_TIMER_FIRED, fired_events, &secrets).await;
}
