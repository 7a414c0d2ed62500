//! The command use case over any `EventStore`: load, decide, append once.
//! The same [`crate::usecase::decide`] the worker's unit of work runs, so tests
//! on the in-memory store exercise the production rules.

use crate::catalog::AnyCommand;
use crate::envelope::RecordedEvent;
use crate::ports::{EventStore, StoreError};
use crate::usecase::{Decision, EventContext, RebuildError, Rejected, TimerRequest};

/// The outcome of handling one command.
#[derive(Debug, Clone, PartialEq)]
pub enum Handled {
    /// The events were appended; the timers are for the caller to set.
    Accepted {
        events: Vec<RecordedEvent>,
        timers: Vec<TimerRequest>,
    },
    /// The aggregate refused; nothing was written.
    Rejected(Rejected),
}

/// Why a command could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// From the store; `Conflict` means "reload and decide again".
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored state cannot be rebuilt.
    #[error(transparent)]
    Rebuild(#[from] RebuildError),
}

/// Loads, decides and appends once. A `StoreError::Conflict` is returned to the
/// caller, who decides whether to retry (the worker does).
pub async fn handle_once<S: EventStore>(
    store: &S,
    command: &AnyCommand,
    ctx: &EventContext,
) -> Result<Handled, HandleError> {
    let stream = command.stream(ctx.tenant);
    let loaded = store.load(ctx.tenant, &stream).await?;
    match command.decide(&loaded, ctx)? {
        Decision::Rejected(rejected) => Ok(Handled::Rejected(rejected)),
        Decision::Accepted(accepted) => {
            let events = store
                .append(
                    ctx.tenant,
                    &accepted.stream,
                    accepted.expected,
                    accepted.events,
                    accepted.snapshot,
                )
                .await?;
            Ok(Handled::Accepted {
                events,
                timers: accepted.timers,
            })
        }
    }
}
