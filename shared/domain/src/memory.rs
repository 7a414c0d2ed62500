//! An in-memory `EventStore` for domain unit tests. It enforces the same port
//! contract as the Postgres adapter (same checks, same errors) but persists
//! nothing and is not for production.

use std::collections::HashMap;
use std::future::{ready, Future};
use std::sync::Mutex;

use chrono::Utc;
use serde_json::Value;

use crate::envelope::{LoadedStream, NewEvent, RecordedEvent, Snapshot, StreamRef};
use crate::ids::{AggregateId, Seq, TenantId, Version};
use crate::ports::{check_append, check_read_limit, snapshot_version, EventStore, StoreError};

#[derive(Debug, Default)]
struct TenantLog {
    events: Vec<RecordedEvent>,
    snapshots: HashMap<AggregateId, Snapshot>,
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct InMemoryEventStore {
    tenants: Mutex<HashMap<TenantId, TenantLog>>,
}

impl InMemoryEventStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn append_now(
        &self,
        tenant: TenantId,
        stream: &StreamRef,
        expected: Version,
        events: Vec<NewEvent>,
        snapshot: Value,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        check_append(stream, &events)?;
        let schema_version = snapshot_version(stream)?;
        let mut tenants = self.tenants.lock().expect("store lock poisoned");
        let log = tenants.entry(tenant).or_default();
        let current = match log.snapshots.get(&stream.aggregate_id) {
            Some(s) if s.aggregate_type != stream.aggregate_type => {
                return Err(StoreError::AggregateTypeMismatch {
                    aggregate_id: stream.aggregate_id,
                    expected: stream.aggregate_type.clone(),
                    actual: s.aggregate_type.clone(),
                })
            }
            Some(s) => s.version,
            None => Version::ZERO,
        };
        if current != expected {
            return Err(StoreError::Conflict {
                aggregate_id: stream.aggregate_id,
                expected,
                actual: Some(current),
            });
        }
        if let Some(dup) = events
            .iter()
            .find(|e| log.events.iter().any(|r| r.id == e.id))
        {
            return Err(StoreError::DuplicateEvent { id: Some(dup.id) });
        }
        let head = log.events.last().map(|e| e.seq).unwrap_or(Seq::ZERO);
        let now = Utc::now();
        let recorded: Vec<RecordedEvent> = events
            .into_iter()
            .enumerate()
            .map(|(i, e)| RecordedEvent {
                tenant_id: tenant,
                id: e.id,
                aggregate_type: stream.aggregate_type.clone(),
                aggregate_id: stream.aggregate_id,
                version: expected.advanced(i + 1),
                seq: head.advanced(i + 1),
                event_type: e.event_type,
                schema_version: e.schema_version,
                payload: e.payload,
                causation_id: e.causation_id,
                correlation_id: e.correlation_id,
                metadata: e.metadata,
                created_at: now,
            })
            .collect();
        let last = recorded.last().expect("checked non-empty");
        log.snapshots.insert(
            stream.aggregate_id,
            Snapshot {
                aggregate_type: stream.aggregate_type.clone(),
                aggregate_id: stream.aggregate_id,
                version: last.version,
                seq: last.seq,
                schema_version,
                state: snapshot,
            },
        );
        log.events.extend(recorded.iter().cloned());
        Ok(recorded)
    }
}

impl EventStore for InMemoryEventStore {
    fn append(
        &self,
        tenant: TenantId,
        stream: &StreamRef,
        expected: Version,
        events: Vec<NewEvent>,
        snapshot: Value,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send {
        ready(self.append_now(tenant, stream, expected, events, snapshot))
    }

    fn load(
        &self,
        tenant: TenantId,
        stream: &StreamRef,
    ) -> impl Future<Output = Result<LoadedStream, StoreError>> + Send {
        let tenants = self.tenants.lock().expect("store lock poisoned");
        let snapshot = tenants
            .get(&tenant)
            .and_then(|log| log.snapshots.get(&stream.aggregate_id))
            .cloned();
        let result = match snapshot {
            Some(s) if s.aggregate_type != stream.aggregate_type => {
                Err(StoreError::AggregateTypeMismatch {
                    aggregate_id: stream.aggregate_id,
                    expected: stream.aggregate_type.clone(),
                    actual: s.aggregate_type,
                })
            }
            snapshot => Ok(LoadedStream {
                snapshot,
                events: Vec::new(),
            }),
        };
        ready(result)
    }

    fn read(
        &self,
        tenant: TenantId,
        after: Seq,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send {
        let result = check_read_limit(limit).map(|()| {
            let tenants = self.tenants.lock().expect("store lock poisoned");
            tenants
                .get(&tenant)
                .map(|log| {
                    log.events
                        .iter()
                        .filter(|e| e.seq > after)
                        .take(limit as usize)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()
        });
        ready(result)
    }

    fn head(&self, tenant: TenantId) -> impl Future<Output = Result<Seq, StoreError>> + Send {
        let tenants = self.tenants.lock().expect("store lock poisoned");
        let head = tenants
            .get(&tenant)
            .and_then(|log| log.events.last().map(|e| e.seq))
            .unwrap_or(Seq::ZERO);
        ready(Ok(head))
    }
}
