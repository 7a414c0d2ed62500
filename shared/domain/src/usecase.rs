//! The command use case, written once for every aggregate and free of I/O:
//! from an aggregate's stored state (snapshot + later events) and a command, to
//! the events to append, the new snapshot and the timers to set, or a typed
//! rejection. The Postgres unit of work, the in-memory service and the tests all
//! run commands through [`decide`]; none of them names an aggregate.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::aggregate::{Aggregate, AggregateCommand, DomainEvent, EventDecodeError, Rejection};
use crate::envelope::{LoadedStream, NewEvent, StreamRef};
use crate::ids::{AggregateId, CommandId, CorrelationId, EventId, Seq, TenantId, Version};

/// Index offset of the events a command's timers cause: timer `i` numbers its
/// event ids from `(i + 1) * TIMER_EVENT_INDEX`, so they never collide with the
/// command's own events (nor with another timer's), and a retried timer derives
/// the same ids.
pub const TIMER_EVENT_INDEX: usize = 1 << 16;

/// What the events a command causes carry besides their payload.
#[derive(Debug, Clone, PartialEq)]
pub struct EventContext {
    pub tenant: TenantId,
    /// The command that causes the events; their ids derive from it.
    pub command_id: CommandId,
    pub correlation_id: CorrelationId,
    pub metadata: Value,
    /// Index of the first derived event id (0 for the command itself).
    pub first_index: usize,
}

impl EventContext {
    /// The context of timer `timer_index` of the same command.
    pub fn for_timer(mut self, timer_index: usize) -> Self {
        self.first_index = (timer_index + 1) * TIMER_EVENT_INDEX;
        self
    }
}

/// A durable timer an accepted command asks for: at `due_at`, the platform runs
/// the command's timer number `index` (see [`crate::aggregate::Aggregate::timers`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimerRequest {
    pub index: usize,
    pub due_at: DateTime<Utc>,
}

/// What the aggregate decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Accepted(Accepted),
    /// Final: nothing is appended, and retrying would not change it.
    Rejected(Rejected),
}

/// Events to append, all at once, only if the stream is still at `expected`.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub stream: StreamRef,
    pub expected: Version,
    pub events: Vec<NewEvent>,
    /// The state after the events, at the aggregate's current state version.
    pub snapshot: Value,
    pub timers: Vec<TimerRequest>,
}

/// A refusal as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    /// Stable machine-readable code, e.g. `order_not_cancellable`.
    pub code: String,
    /// Human-readable reason.
    pub reason: String,
}

/// Why stored state could not be turned into an aggregate. Each is a fault of
/// the data or of the deployment, not of the command: fail the attempt loudly.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RebuildError {
    #[error("unknown aggregate type {0:?}")]
    UnknownAggregateType(String),
    #[error("snapshot of {aggregate_id} cannot be decoded: {reason}")]
    CorruptSnapshot {
        aggregate_id: AggregateId,
        reason: String,
    },
    /// The store handed over a snapshot of another shape: it must load every
    /// event instead (see `EventStore::load`).
    #[error("snapshot of {aggregate_id} has state version {found}, the aggregate is at {current}")]
    SnapshotVersion {
        aggregate_id: AggregateId,
        found: i32,
        current: i32,
    },
    #[error("event {event_id} (seq {seq}) cannot be read: {source}")]
    UndecodableEvent {
        event_id: EventId,
        seq: Seq,
        #[source]
        source: EventDecodeError,
    },
}

/// Folds a loaded stream into the aggregate's current state.
pub fn rebuild<A: Aggregate>(loaded: &LoadedStream) -> Result<A, RebuildError> {
    let mut state = match &loaded.snapshot {
        Some(snapshot) if snapshot.schema_version != A::STATE_VERSION => {
            return Err(RebuildError::SnapshotVersion {
                aggregate_id: snapshot.aggregate_id,
                found: snapshot.schema_version,
                current: A::STATE_VERSION,
            })
        }
        Some(snapshot) => serde_json::from_value::<A>(snapshot.state.clone()).map_err(|e| {
            RebuildError::CorruptSnapshot {
                aggregate_id: snapshot.aggregate_id,
                reason: e.to_string(),
            }
        })?,
        None => A::default(),
    };
    for event in &loaded.events {
        let decoded = A::Event::from_parts(&event.event_type, event.schema_version, &event.payload)
            .map_err(|source| RebuildError::UndecodableEvent {
                event_id: event.id,
                seq: event.seq,
                source,
            })?;
        state = state.evolve(&decoded);
    }
    Ok(state)
}

/// Turns decided events into envelopes whose ids derive from the command id.
pub fn envelopes<E: DomainEvent>(ctx: &EventContext, events: &[E]) -> Vec<NewEvent> {
    events
        .iter()
        .enumerate()
        .map(|(index, event)| NewEvent {
            id: EventId::derived(ctx.command_id, ctx.first_index + index),
            event_type: event.event_type().to_owned(),
            schema_version: event.schema_version(),
            payload: event.to_payload(),
            causation_id: Uuid::from(ctx.command_id),
            correlation_id: ctx.correlation_id,
            metadata: ctx.metadata.clone(),
        })
        .collect()
}

/// The timers an accepted `command` asks for, numbered.
pub fn timers<C: AggregateCommand>(command: &C) -> Vec<TimerRequest> {
    <C::Aggregate as Aggregate>::timers(command)
        .into_iter()
        .enumerate()
        .map(|(index, timer)| TimerRequest {
            index,
            due_at: timer.due_at,
        })
        .collect()
}

/// The command timer number `index` of `command` runs, if it has that timer.
pub fn timer_command<C: AggregateCommand>(command: &C, index: usize) -> Option<C> {
    <C::Aggregate as Aggregate>::timers(command)
        .into_iter()
        .nth(index)
        .map(|timer| timer.command)
}

/// Decides `command` against the state in `loaded` (which must be the stream
/// of `command.aggregate_id(ctx.tenant)`).
pub fn decide<C: AggregateCommand>(
    loaded: &LoadedStream,
    command: &C,
    ctx: &EventContext,
) -> Result<Decision, RebuildError> {
    let state: C::Aggregate = rebuild(loaded)?;
    let decided = match state.decide(command) {
        Ok(events) => events,
        Err(rejection) => {
            return Ok(Decision::Rejected(Rejected {
                code: rejection.code().to_owned(),
                reason: rejection.to_string(),
            }))
        }
    };
    let after = decided.iter().fold(state, |s, e| s.evolve(e));
    Ok(Decision::Accepted(Accepted {
        stream: StreamRef::new(
            <C::Aggregate as Aggregate>::TYPE,
            command.aggregate_id(ctx.tenant),
        ),
        expected: loaded.version(),
        events: envelopes(ctx, &decided),
        snapshot: serde_json::to_value(&after).expect("aggregate state always serialises"),
        timers: timers(command),
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::catalog::AnyCommand;
    use crate::envelope::Snapshot;

    fn ctx(tenant: TenantId) -> EventContext {
        EventContext {
            tenant,
            command_id: CommandId::new_random(),
            correlation_id: CorrelationId::new_random(),
            metadata: json!({"source": "test"}),
            first_index: 0,
        }
    }

    fn create_order(scheduled_for: Option<&str>) -> AnyCommand {
        let mut payload = json!({"orderId": AggregateId::new_random(), "userId": "u",
                                 "items": [{"menuItemId": "soup", "quantity": 1}]});
        if let Some(at) = scheduled_for {
            payload["scheduledFor"] = at.into();
        }
        AnyCommand::parse_client("createOrder", &payload).unwrap()
    }

    #[test]
    fn an_accepted_command_yields_events_snapshot_and_its_timers() {
        let tenant = TenantId::new_random();
        let command = create_order(Some("2030-01-01T18:30:00Z"));
        let ctx = ctx(tenant);
        let Decision::Accepted(accepted) = command.decide(&LoadedStream::default(), &ctx).unwrap()
        else {
            panic!("rejected")
        };
        assert_eq!(accepted.stream, command.stream(tenant));
        assert_eq!(accepted.expected, Version::ZERO);
        assert_eq!(accepted.events.len(), 1);
        assert_eq!(accepted.events[0].id, EventId::derived(ctx.command_id, 0));
        assert_eq!(accepted.events[0].schema_version, 2);
        assert_eq!(accepted.snapshot["customerId"], "u");
        assert_eq!(
            accepted.timers,
            vec![TimerRequest {
                index: 0,
                due_at: "2030-01-01T18:30:00Z".parse().unwrap()
            }]
        );
    }

    #[test]
    fn a_timer_numbers_its_event_ids_apart_from_the_command_s() {
        let tenant = TenantId::new_random();
        let command = create_order(Some("2030-01-01T18:30:00Z"));
        let base = ctx(tenant);
        let Decision::Accepted(created) = command.decide(&LoadedStream::default(), &base).unwrap()
        else {
            panic!("rejected")
        };
        let due = command.timer_command(0).expect("a due timer");
        assert_eq!(due.command_type(), "markOrderDue");
        assert!(command.timer_command(1).is_none());
        // The state after creation, as a store would load it.
        let loaded = LoadedStream {
            snapshot: Some(Snapshot {
                aggregate_type: created.stream.aggregate_type.clone(),
                aggregate_id: created.stream.aggregate_id,
                version: Version::ZERO.advanced(1),
                seq: Seq::ZERO.advanced(1),
                schema_version: 2,
                state: created.snapshot.clone(),
            }),
            events: vec![],
        };
        let timer_ctx = base.clone().for_timer(0);
        let Decision::Accepted(fired) = due.decide(&loaded, &timer_ctx).unwrap() else {
            panic!("rejected")
        };
        assert_eq!(fired.expected.get(), 1);
        assert_eq!(fired.events[0].event_type, "OrderDue");
        assert_eq!(
            fired.events[0].id,
            EventId::derived(base.command_id, TIMER_EVENT_INDEX)
        );
        assert_ne!(fired.events[0].id, created.events[0].id);
        assert!(fired.timers.is_empty());
    }

    #[test]
    fn a_rejection_carries_its_code_and_reason() {
        let command = AnyCommand::parse_client(
            "cancelOrder",
            &json!({"orderId": AggregateId::new_random()}),
        )
        .unwrap();
        let decision = command
            .decide(&LoadedStream::default(), &ctx(TenantId::new_random()))
            .unwrap();
        let Decision::Rejected(rejected) = decision else {
            panic!("accepted")
        };
        assert_eq!(rejected.code, "order_not_found");
        assert!(
            rejected.reason.contains("does not exist"),
            "{}",
            rejected.reason
        );
    }

    #[test]
    fn a_snapshot_of_another_shape_is_refused_not_misread() {
        let command = create_order(None);
        let tenant = TenantId::new_random();
        let stream = command.stream(tenant);
        let loaded = LoadedStream {
            snapshot: Some(Snapshot {
                aggregate_type: stream.aggregate_type,
                aggregate_id: stream.aggregate_id,
                version: Version::ZERO.advanced(1),
                seq: Seq::ZERO.advanced(1),
                schema_version: 1,
                state: json!({"state": "placed"}),
            }),
            events: vec![],
        };
        let err = command.decide(&loaded, &ctx(tenant)).unwrap_err();
        assert!(
            matches!(
                err,
                RebuildError::SnapshotVersion {
                    found: 1,
                    current: 2,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn menu_commands_go_through_the_same_use_case() {
        let tenant = TenantId::new_random();
        let command = AnyCommand::parse_client(
            "addMenuItem",
            &json!({"menuItemId": "soup", "name": "Soup", "priceCents": 450}),
        )
        .unwrap();
        let Decision::Accepted(accepted) = command
            .decide(&LoadedStream::default(), &ctx(tenant))
            .unwrap()
        else {
            panic!("rejected")
        };
        assert_eq!(accepted.stream.aggregate_type, "menu");
        assert_eq!(
            accepted.stream.aggregate_id,
            AggregateId::of_tenant(tenant, "menu")
        );
        assert_eq!(accepted.snapshot["items"]["soup"]["priceCents"], 450);
    }
}
