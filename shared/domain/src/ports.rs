//! The ports: what the domain needs from the outside world, with the contract
//! every implementation must honour. Adapters live in `kitchen-adapters`.

use std::future::Future;

use serde_json::Value;

use crate::catalog::{validate_aggregate_type, validate_event, EventValidationError};
use crate::envelope::{LoadedStream, NewEvent, RecordedEvent, StreamRef};
use crate::ids::{AggregateId, EventId, Seq, TenantId, Version};

/// A boxed error from an adapter's backend (kept opaque so the domain stays pure).
pub type BackendError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Largest page `EventStore::read` returns.
pub const MAX_READ_LIMIT: u32 = 10_000;

/// What can go wrong with the event store. Each variant says how a caller
/// reacts, and carries only what is known (nothing is made up to fill a field).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Someone else appended first (or the caller skipped ahead). Reload and
    /// decide again; over HTTP this is a 409. `actual` is the stream's version
    /// when the store could read it.
    #[error(
        "version conflict on {aggregate_id}: expected version {expected}{}",
        at_version(actual)
    )]
    Conflict {
        aggregate_id: AggregateId,
        expected: Version,
        actual: Option<Version>,
    },
    /// The aggregate type is not in the catalog: a programming error, 400/500.
    #[error("unknown aggregate type {0:?}")]
    UnknownAggregateType(String),
    /// The id belongs to an aggregate of another type.
    #[error("aggregate {aggregate_id} is of type {actual:?}, not {expected:?}")]
    AggregateTypeMismatch {
        aggregate_id: AggregateId,
        expected: String,
        actual: String,
    },
    /// An event's payload does not match its type (or is not at the current
    /// schema version); nothing was written.
    #[error("event #{index} is invalid: {source}")]
    InvalidEvent {
        index: usize,
        #[source]
        source: EventValidationError,
    },
    /// `append` was called with no events.
    #[error("nothing to append")]
    EmptyAppend,
    /// An event with this id already exists in the tenant: the append is a
    /// replay. The id is the one the database named, when it named one.
    #[error("event {} was already appended", id.map(|id| id.to_string()).unwrap_or_else(|| "(id not reported)".into()))]
    DuplicateEvent { id: Option<EventId> },
    /// `read` was asked for zero or too many events.
    #[error("read limit must be between 1 and {MAX_READ_LIMIT}, got {0}")]
    InvalidLimit(u32),
    /// A stored event cannot be brought to a version this release reads (it
    /// was written by a newer release, say): a deployment fault, 500.
    #[error("event {event_id} (seq {seq}) cannot be read: {source}")]
    UnreadableEvent {
        event_id: EventId,
        seq: Seq,
        #[source]
        source: EventValidationError,
    },
    /// A stored row breaks an invariant of the schema (an id of the wrong
    /// kind, a negative version): a fault of the data, 500.
    #[error("stored data is corrupt: {0}")]
    CorruptRow(String),
    /// The backend failed; retry later (503 with Retry-After at the edge).
    #[error("event store unavailable")]
    Unavailable(#[source] BackendError),
}

fn at_version(actual: &Option<Version>) -> String {
    actual
        .map(|v| format!(", stream is at {v}"))
        .unwrap_or_default()
}

/// The event store: append-only, per-tenant, optimistic concurrency.
pub trait EventStore: Send + Sync {
    /// Appends `events` to `stream` if the stream is exactly at `expected`, and
    /// stores `snapshot` (the aggregate state after these events, in the
    /// aggregate's current shape: it is stamped with the catalog's state
    /// version) **in the same transaction**. Events get versions `expected+1..` and the tenant's next
    /// seqs, gapless and in commit order.
    ///
    /// MUST return `Conflict` when the stream is not at `expected` (also when
    /// `expected` is ahead of it), `InvalidEvent` / `UnknownAggregateType` /
    /// `EmptyAppend` for bad input (an event not at its type's current schema
    /// version included), `DuplicateEvent` when an event id exists, and in
    /// every error case MUST have written nothing.
    fn append(
        &self,
        tenant: TenantId,
        stream: &StreamRef,
        expected: Version,
        events: Vec<NewEvent>,
        snapshot: Value,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// The latest snapshot of the aggregate and every event after it, events
    /// upcast to their current schema version. A snapshot whose state version
    /// is not the catalog's current one is left out and every event returned
    /// instead (so the state is rebuilt in the current shape). An aggregate
    /// never written returns an empty stream (version 0). MUST return
    /// `AggregateTypeMismatch` if the id holds another type, and
    /// `UnreadableEvent` for an event no upcaster brings to a known version.
    fn load(
        &self,
        tenant: TenantId,
        stream: &StreamRef,
    ) -> impl Future<Output = Result<LoadedStream, StoreError>> + Send;

    /// Up to `limit` events of the tenant with `seq > after`, in seq order,
    /// upcast to their current schema version (`UnreadableEvent` otherwise).
    /// Whatever has been committed with a seq is visible here; a caller that
    /// pages with the last seq it saw misses nothing.
    fn read(
        &self,
        tenant: TenantId,
        after: Seq,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// The highest committed seq of the tenant (0 when it has no events).
    fn head(&self, tenant: TenantId) -> impl Future<Output = Result<Seq, StoreError>> + Send;
}

/// The checks every `EventStore::append` makes before touching storage, shared
/// so the in-memory and Postgres stores refuse exactly the same input.
pub fn check_append(stream: &StreamRef, events: &[NewEvent]) -> Result<(), StoreError> {
    validate_aggregate_type(&stream.aggregate_type).map_err(|e| match e {
        EventValidationError::UnknownAggregateType(t) => StoreError::UnknownAggregateType(t),
        other => StoreError::InvalidEvent {
            index: 0,
            source: other,
        },
    })?;
    if events.is_empty() {
        return Err(StoreError::EmptyAppend);
    }
    for (index, event) in events.iter().enumerate() {
        validate_event(&stream.aggregate_type, event)
            .map_err(|source| StoreError::InvalidEvent { index, source })?;
    }
    Ok(())
}

/// Brings an event read from storage to its current schema version, shared so
/// both stores upcast (and refuse) alike on every read path.
pub fn upcast_read(event: RecordedEvent) -> Result<RecordedEvent, StoreError> {
    let (event_id, seq) = (event.id, event.seq);
    crate::catalog::upcast_event(event).map_err(|source| StoreError::UnreadableEvent {
        event_id,
        seq,
        source,
    })
}

/// The snapshot version the store stamps on a snapshot of `stream`.
pub fn snapshot_version(stream: &StreamRef) -> Result<i32, StoreError> {
    crate::catalog::state_version(&stream.aggregate_type)
        .ok_or_else(|| StoreError::UnknownAggregateType(stream.aggregate_type.clone()))
}

/// Checks a read limit against [`MAX_READ_LIMIT`].
pub fn check_read_limit(limit: u32) -> Result<(), StoreError> {
    if limit == 0 || limit > MAX_READ_LIMIT {
        Err(StoreError::InvalidLimit(limit))
    } else {
        Ok(())
    }
}

/// A workflow that exists for a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    pub workflow_id: String,
    /// False when the workflow had been started before (a duplicate start).
    pub newly_started: bool,
    /// The command cannot be routed, ever (a signal for a closed workflow):
    /// it ends `rejected` with this code and reason.
    pub refused: Option<crate::usecase::Rejected>,
}

/// Starts durable work for an accepted command (the Temporal adapter).
pub trait JobScheduler: Send + Sync {
    /// Starts the workflow for `command` with the id `{tenant}-{command}`,
    /// carrying `correlation` where operators can find it (the memo).
    /// Starting an id that is already running or finished MUST count as success
    /// (`newly_started: false`): it makes dispatch idempotent.
    fn schedule(
        &self,
        tenant: TenantId,
        command: crate::ids::CommandId,
        command_type: &str,
        correlation: crate::ids::CorrelationId,
    ) -> impl Future<Output = Result<Scheduled, BackendError>> + Send;
}

/// What can go wrong when queueing a command.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The id is taken by a different request (409 at the edge).
    #[error("command {0} already exists with a different type or payload")]
    IdempotencyConflict(crate::ids::CommandId),
    /// The tenant already has `limit` open (not final) commands; nothing was
    /// written (429 at the edge). Retry once some have finished.
    #[error("the tenant already has {limit} open commands")]
    BacklogFull { limit: u32 },
    /// Retry later (503).
    #[error("command queue unavailable")]
    Unavailable(#[source] BackendError),
}

/// Durable intake of commands (the `commands` table).
pub trait CommandQueue: Send + Sync {
    /// Stores `command` as pending. If its id exists in the tenant: MUST return
    /// `Existing` when the type and payload are the same, and
    /// `IdempotencyConflict` (writing nothing) when they differ. An adapter
    /// that bounds a tenant's open commands MUST return `BacklogFull` (writing
    /// nothing) for a new id at the bound, and still `Existing` for a retry.
    fn enqueue(
        &self,
        command: crate::queue::NewCommand,
    ) -> impl Future<Output = Result<crate::queue::Enqueued, QueueError>> + Send;

    /// The command with this id in this tenant; `None` if there is none (also
    /// when another tenant has one with that id).
    fn get(
        &self,
        tenant: TenantId,
        id: crate::ids::CommandId,
    ) -> impl Future<Output = Result<Option<crate::queue::CommandRecord>, QueueError>> + Send;

    /// Up to `limit` commands of the tenant with this correlation id, oldest
    /// first, after the command `after` (exclusive) when given. Another
    /// tenant's commands are never included.
    fn by_correlation(
        &self,
        tenant: TenantId,
        correlation: crate::ids::CorrelationId,
        after: Option<crate::ids::CommandId>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<crate::queue::CommandRecord>, QueueError>> + Send;
}
