//! The NOTIFY payloads of migration 000005, as typed values. A notification is
//! a wake-up: listeners read the rows themselves, by seq, from the tables.

use serde::Deserialize;
use uuid::Uuid;

/// Channel the `commands` trigger notifies on.
pub const COMMANDS_CHANNEL: &str = "commands";
/// Channel the `events` trigger notifies on.
pub const EVENTS_CHANNEL: &str = "events";

/// One new command.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CommandNotification {
    pub tenant_id: Uuid,
    pub id: Uuid,
}

/// Events appended by one statement of one tenant: seqs `first_seq..=last_seq`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EventsNotification {
    pub tenant_id: Uuid,
    pub first_seq: i64,
    pub last_seq: i64,
    /// Present when it fits in the NOTIFY payload; absent for large batches.
    #[serde(default)]
    pub events: Option<Vec<NotifiedEvent>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NotifiedEvent {
    pub seq: i64,
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
}

/// Parses a payload of the `commands` channel.
pub fn parse_command_notification(payload: &str) -> Result<CommandNotification, serde_json::Error> {
    serde_json::from_str(payload)
}

/// Parses a payload of the `events` channel.
pub fn parse_events_notification(payload: &str) -> Result<EventsNotification, serde_json::Error> {
    serde_json::from_str(payload)
}

/// Channel the `tenants` trigger notifies on (migration 2026-11-25-000011).
pub const TENANTS_CHANNEL: &str = "tenants";

/// A tenant row changed: its new status, `None` when the row was deleted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TenantNotification {
    pub tenant_id: Uuid,
    #[serde(default)]
    pub status: Option<String>,
}

/// Parses a payload of the `tenants` channel.
pub fn parse_tenant_notification(payload: &str) -> Result<TenantNotification, serde_json::Error> {
    serde_json::from_str(payload)
}

/// Channel the `commands_outcome_notify` trigger notifies on (migration
/// 2026-11-25-000030): a household command became succeeded, rejected or failed.
pub const COMMAND_OUTCOMES_CHANNEL: &str = "command_outcomes";

/// Parses a payload of the `command_outcomes` channel (`{"tenant_id", "id"}`,
/// the shape of the `commands` channel).
pub fn parse_command_outcome_notification(
    payload: &str,
) -> Result<CommandNotification, serde_json::Error> {
    serde_json::from_str(payload)
}
