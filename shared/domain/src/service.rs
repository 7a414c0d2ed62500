//! The domain service: rebuild an aggregate, decide, and append what it decided.
//! Generic over the store, so the same code runs on Postgres and in memory.

use serde_json::Value;
use uuid::Uuid;

use crate::aggregate::{Aggregate, DomainEvent};
use crate::envelope::{LoadedStream, NewEvent, RecordedEvent, StreamRef};
use crate::ids::{AggregateId, CommandId, CorrelationId, EventId, TenantId, Version};
use crate::ports::{EventStore, StoreError};

/// Folds a loaded stream into the aggregate's current state.
pub fn rebuild<A: Aggregate>(loaded: &LoadedStream) -> Result<A, StoreError> {
    let mut state = match &loaded.snapshot {
        Some(snapshot) => serde_json::from_value::<A>(snapshot.state.clone()).map_err(|e| {
            StoreError::CorruptSnapshot {
                aggregate_id: snapshot.aggregate_id,
                reason: e.to_string(),
            }
        })?,
        None => A::default(),
    };
    for event in &loaded.events {
        let decoded = A::Event::from_parts(&event.event_type, event.schema_version, &event.payload)
            .map_err(|e| StoreError::CorruptSnapshot {
                aggregate_id: event.aggregate_id,
                reason: format!("event {} cannot be decoded: {e}", event.id),
            })?;
        state = state.evolve(&decoded);
    }
    Ok(state)
}

/// Turns decided events into envelopes whose ids derive from the command id.
pub fn envelopes<E: DomainEvent>(
    command: CommandId,
    correlation: CorrelationId,
    metadata: &Value,
    events: &[E],
) -> Vec<NewEvent> {
    envelopes_from(command, 0, correlation, metadata, events)
}

/// Index offset of events a command causes later, through its durable timer:
/// they derive their ids from the same command without colliding with its own.
pub const TIMER_EVENT_INDEX: usize = 1 << 16;

/// As [`envelopes`], numbering the derived ids from `first_index`.
pub fn envelopes_from<E: DomainEvent>(
    command: CommandId,
    first_index: usize,
    correlation: CorrelationId,
    metadata: &Value,
    events: &[E],
) -> Vec<NewEvent> {
    events
        .iter()
        .enumerate()
        .map(|(index, event)| NewEvent {
            id: EventId::derived(command, first_index + index),
            event_type: event.event_type().to_owned(),
            schema_version: event.schema_version(),
            payload: event.to_payload(),
            causation_id: Uuid::from(command),
            correlation_id: correlation,
            metadata: metadata.clone(),
        })
        .collect()
}

/// The outcome of handling one command.
#[derive(Debug)]
pub enum Handled<R> {
    /// The events were appended.
    Accepted(Vec<RecordedEvent>),
    /// The aggregate refused; nothing was written.
    Rejected(R),
}

/// What one command needs besides its body.
#[derive(Debug, Clone)]
pub struct CommandContext {
    pub tenant: TenantId,
    pub command_id: CommandId,
    pub correlation_id: CorrelationId,
    pub aggregate_id: AggregateId,
    pub metadata: Value,
}

/// Loads, decides and appends once. A `StoreError::Conflict` is returned to the
/// caller, who decides whether to retry (the worker does).
pub async fn handle_once<A: Aggregate, S: EventStore>(
    store: &S,
    ctx: &CommandContext,
    command: &A::Command,
) -> Result<Handled<A::Rejection>, StoreError> {
    let stream = StreamRef::new(A::TYPE, ctx.aggregate_id);
    let loaded = store.load(ctx.tenant, &stream).await?;
    let expected: Version = loaded.version();
    let state: A = rebuild(&loaded)?;
    let decided = match state.decide(command) {
        Ok(events) => events,
        Err(rejection) => return Ok(Handled::Rejected(rejection)),
    };
    let after = decided.iter().fold(state, |s, e| s.evolve(e));
    let snapshot = serde_json::to_value(&after).expect("aggregate state always serialises");
    let new_events = envelopes(ctx.command_id, ctx.correlation_id, &ctx.metadata, &decided);
    let recorded = store
        .append(ctx.tenant, &stream, expected, new_events, snapshot)
        .await?;
    Ok(Handled::Accepted(recorded))
}
