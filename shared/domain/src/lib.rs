//! The pure core of KitchenEats.
//!
//! Everything here is deterministic and free of I/O: identifiers, the command and
//! event envelopes, the aggregates (`decide` / `evolve`), the command use case,
//! event upcasting and the ports that the adapters implement. It compiles
//! without tokio, diesel, actix or Temporal, so the business rules can be tested
//! and reasoned about on their own.
#![forbid(unsafe_code)]

pub mod aggregate;
pub mod catalog;
pub mod envelope;
pub mod ids;
pub mod memory;
pub mod menu;
pub mod order;
pub mod platform;
pub mod ports;
pub mod projection;
pub mod queue;
pub mod roles;
pub mod service;
pub mod upcast;
pub mod usecase;
pub mod values;

pub use aggregate::{Aggregate, AggregateCommand, DomainEvent, EventDecodeError, Rejection};
pub use catalog::AnyCommand;
pub use envelope::{CommandEnvelope, LoadedStream, NewEvent, RecordedEvent, Snapshot, StreamRef};
pub use ids::{AggregateId, CommandId, CorrelationId, EventId, IdError, Seq, TenantId, Version};
pub use roles::Role;
