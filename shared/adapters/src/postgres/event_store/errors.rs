//! How database failures become `StoreError`s, in one place: named constraints
//! map to typed errors, everything else is "unavailable". Nothing is invented:
//! a field the database did not report stays empty.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use kitchen_domain::ports::StoreError;
use kitchen_domain::{EventId, IdError, NewEvent, StreamRef, Version};

use crate::postgres::TxError;

/// A failure inside a store transaction: already typed, or from the database.
#[derive(Debug)]
pub(crate) enum PgFailure {
    Store(StoreError),
    Db(DieselError),
    Tx(TxError),
}

impl From<DieselError> for PgFailure {
    fn from(e: DieselError) -> Self {
        PgFailure::Db(e)
    }
}
impl From<TxError> for PgFailure {
    fn from(e: TxError) -> Self {
        PgFailure::Tx(e)
    }
}
impl From<StoreError> for PgFailure {
    fn from(e: StoreError) -> Self {
        PgFailure::Store(e)
    }
}

/// What an append was attempting, for the errors its constraints raise.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppendAttempt<'a> {
    pub(crate) stream: &'a StreamRef,
    pub(crate) expected: Version,
    /// The event, when the append had exactly one: then a duplicate is it.
    pub(crate) only_event: Option<EventId>,
}

impl<'a> AppendAttempt<'a> {
    pub(crate) fn new(stream: &'a StreamRef, expected: Version, events: &[NewEvent]) -> Self {
        AppendAttempt {
            stream,
            expected,
            only_event: match events {
                [only] => Some(only.id),
                _ => None,
            },
        }
    }
}

impl PgFailure {
    /// The typed error; `attempt` names the stream of an append, if this was one.
    pub(crate) fn into_store_error(self, attempt: Option<AppendAttempt<'_>>) -> StoreError {
        match self {
            PgFailure::Store(e) => e,
            PgFailure::Tx(e) => StoreError::Unavailable(Box::new(e)),
            PgFailure::Db(e) => classify(e, attempt),
        }
    }
}

/// `append_events()`: the stream is at another version than expected.
const APPEND_EXPECTED_VERSION: &str = "append_expected_version";
/// `append_events()`: the stream exists as another aggregate type.
const APPEND_AGGREGATE_TYPE: &str = "append_aggregate_type";

/// Maps a database error by the constraint it names.
pub(crate) fn classify(e: DieselError, attempt: Option<AppendAttempt<'_>>) -> StoreError {
    let DieselError::DatabaseError(kind, info) = e else {
        return StoreError::Unavailable(Box::new(e));
    };
    match (kind, info.constraint_name(), attempt) {
        // `append_events()` refuses with these names and the stream's actual
        // type or version in DETAIL (migration 000043).
        (_, Some(APPEND_AGGREGATE_TYPE), Some(attempt)) => StoreError::AggregateTypeMismatch {
            aggregate_id: attempt.stream.aggregate_id,
            expected: attempt.stream.aggregate_type.clone(),
            actual: info.details().unwrap_or_default().to_owned(),
        },
        (_, Some(APPEND_EXPECTED_VERSION), Some(attempt)) => StoreError::Conflict {
            aggregate_id: attempt.stream.aggregate_id,
            expected: attempt.expected,
            actual: info
                .details()
                .and_then(|d| d.parse().ok())
                .and_then(|v| Version::new(v).ok()),
        },
        // Only reachable if something bypasses the tenant lock; the stream's
        // actual version is not known here.
        (DatabaseErrorKind::UniqueViolation, Some("events_stream_version_key"), Some(attempt)) => {
            StoreError::Conflict {
                aggregate_id: attempt.stream.aggregate_id,
                expected: attempt.expected,
                actual: None,
            }
        }
        // Under row-level security PostgreSQL leaves the key out of the
        // detail, so the id is known only for a one-event append.
        (DatabaseErrorKind::UniqueViolation, Some("events_pkey"), attempt) => {
            StoreError::DuplicateEvent {
                id: duplicate_id(info.details()).or(attempt.and_then(|a| a.only_event)),
            }
        }
        _ => StoreError::Unavailable(Box::new(DieselError::DatabaseError(kind, info))),
    }
}

/// A stored value breaks an invariant of the schema.
pub(crate) fn corrupt(e: IdError) -> StoreError {
    StoreError::CorruptRow(e.to_string())
}

/// Extracts the event id from `Key (tenant_id, id)=(…, <id>) already exists.`
fn duplicate_id(details: Option<&str>) -> Option<EventId> {
    let values = details?.split(")=(").nth(1)?;
    let id = values.split(')').next()?.split(", ").nth(1)?;
    id.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_duplicate_id_is_read_from_the_details_or_left_unknown() {
        let id = EventId::new_random();
        let details = format!(
            "Key (tenant_id, id)=(7d4f4a52-4b44-4b9e-9a0e-0e5f2b7c1a11, {id}) already exists."
        );
        assert_eq!(duplicate_id(Some(&details)), Some(id));
        assert_eq!(duplicate_id(Some("something else")), None);
        assert_eq!(duplicate_id(None), None);
    }
}
