//! `POST /v1/commands`, `GET /v1/commands/{id}`, `GET /v1/commands?correlationId=`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

/// The body of `POST /v1/commands`. Unknown fields are refused so typos do not
/// go unnoticed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubmitCommand {
    /// The idempotency key; the server makes one when absent. The same id with
    /// the same body answers the stored command (200); with another body, 409.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    /// The command type, e.g. `createOrder` or `addMenuItem`.
    #[serde(rename = "type")]
    pub command_type: String,
    /// The command's payload; its shape depends on `type` (see the README).
    #[schema(value_type = Object)]
    pub payload: Value,
    /// Ties this command to others of one user action; made when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    /// Free-form metadata copied onto the command's events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
}

pub use kitchen_domain::queue::CommandStatus;

/// The schema of [`CommandStatus`] (a string of the domain's statuses): the
/// domain crate has no schema generator, so the list is built from it here.
pub(crate) fn status_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .description(Some(
            "Where a command is: `pending -> claimed -> dispatched -> succeeded | rejected | failed`.",
        ))
        .enum_values(Some(CommandStatus::ALL.iter().map(|s| s.as_str())))
        .build()
}

/// `202 Accepted` to a new command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommandAccepted {
    pub command_id: Uuid,
    #[schema(schema_with = status_schema)]
    pub status: CommandStatus,
    pub correlation_id: Uuid,
}

/// Why a command ended without events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    /// Stable machine-readable code, e.g. `order_not_cancellable`.
    pub code: String,
    /// Human-readable reason.
    pub reason: String,
}

/// A command and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommandView {
    pub command_id: Uuid,
    #[serde(rename = "type")]
    pub command_type: String,
    #[schema(schema_with = status_schema)]
    pub status: CommandStatus,
    pub correlation_id: Uuid,
    pub aggregate_id: Uuid,
    /// Set when the command was rejected or failed.
    pub rejection: Option<Rejection>,
    /// Seqs of the events the command produced (empty until it succeeded).
    pub event_seqs: Vec<i64>,
    pub workflow_id: Option<String>,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&kitchen_domain::queue::CommandRecord> for CommandView {
    fn from(r: &kitchen_domain::queue::CommandRecord) -> Self {
        CommandView {
            command_id: r.id.as_uuid(),
            command_type: r.command_type.clone(),
            status: r.status,
            correlation_id: r.correlation_id.as_uuid(),
            aggregate_id: r.aggregate_id.as_uuid(),
            rejection: r.error.as_ref().map(|e| Rejection {
                code: e.code.clone(),
                reason: e.reason.clone(),
            }),
            event_seqs: r.result_seqs.iter().map(|s| s.get()).collect(),
            workflow_id: r.workflow_id.clone(),
            attempts: r.attempts,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A page of commands (`GET /v1/commands?correlationId=`), oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommandsPage {
    pub commands: Vec<CommandView>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<Uuid>,
}
