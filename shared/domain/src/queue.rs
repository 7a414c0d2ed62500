//! Commands as the platform tracks them, from acceptance to their outcome.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

use crate::ids::{AggregateId, CommandId, CorrelationId, Seq, TenantId};

/// Where a command is: `pending -> claimed -> dispatched -> succeeded | rejected | failed`.
/// `claimed` means a pump took it and is starting its workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommandStatus {
    Pending,
    Claimed,
    Dispatched,
    Succeeded,
    Rejected,
    Failed,
}

impl CommandStatus {
    /// Every status, in the order a command moves through them.
    pub const ALL: [CommandStatus; 6] = [
        Self::Pending,
        Self::Claimed,
        Self::Dispatched,
        Self::Succeeded,
        Self::Rejected,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Claimed => "claimed",
            Self::Dispatched => "dispatched",
            Self::Succeeded => "succeeded",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
        }
    }

    /// No further change will happen.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Rejected | Self::Failed)
    }
}

impl fmt::Display for CommandStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CommandStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "pending" => Self::Pending,
            "claimed" => Self::Claimed,
            "dispatched" => Self::Dispatched,
            "succeeded" => Self::Succeeded,
            "rejected" => Self::Rejected,
            "failed" => Self::Failed,
            other => return Err(format!("unknown command status {other:?}")),
        })
    }
}

/// A command accepted at the edge, already parsed (so it is known to be valid).
#[derive(Debug, Clone, PartialEq)]
pub struct NewCommand {
    pub id: CommandId,
    pub tenant_id: TenantId,
    pub command_type: String,
    pub payload: Value,
    pub aggregate_id: AggregateId,
    pub user_id: Option<String>,
    pub correlation_id: CorrelationId,
    pub metadata: Value,
}

/// Why a command ended without events, as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandError {
    /// Stable machine-readable code, e.g. `order_not_cancellable`.
    pub code: String,
    /// Human-readable reason.
    pub reason: String,
}

/// A command and what became of it.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandRecord {
    pub id: CommandId,
    pub tenant_id: TenantId,
    pub command_type: String,
    pub payload: Value,
    pub status: CommandStatus,
    pub aggregate_id: AggregateId,
    pub user_id: Option<String>,
    pub correlation_id: CorrelationId,
    pub metadata: Value,
    pub error: Option<CommandError>,
    /// Seqs of the events the command produced (empty until it succeeded).
    pub result_seqs: Vec<Seq>,
    pub workflow_id: Option<String>,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl CommandRecord {
    /// Whether `new` asks for the same thing (same type and payload): a retry
    /// of this command, as opposed to another command reusing its id.
    /// The record of `command` just stored at `created_at`: pending, no outcome.
    pub fn pending(command: NewCommand, created_at: DateTime<Utc>) -> Self {
        CommandRecord {
            id: command.id,
            tenant_id: command.tenant_id,
            command_type: command.command_type,
            payload: command.payload,
            status: CommandStatus::Pending,
            aggregate_id: command.aggregate_id,
            user_id: command.user_id,
            correlation_id: command.correlation_id,
            metadata: command.metadata,
            error: None,
            result_seqs: Vec::new(),
            workflow_id: None,
            attempts: 0,
            created_at,
            updated_at: created_at,
        }
    }

    pub fn is_same_request(&self, new: &NewCommand) -> bool {
        self.command_type == new.command_type && self.payload == new.payload
    }
}

/// The outcome of `CommandQueue::enqueue`.
#[derive(Debug, Clone, PartialEq)]
pub enum Enqueued {
    /// Stored now.
    Created(CommandRecord),
    /// The same request was stored before (an idempotent retry).
    Existing(CommandRecord),
}

/// What became of a command (the command workflow's result). A rejection is an
/// outcome, not an error: it is final and recorded, and retrying would not
/// change it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum CommandOutcome {
    #[serde(rename_all = "camelCase")]
    Succeeded {
        seqs: Vec<i64>,
        /// The durable timers the command asked for.
        #[serde(default)]
        timers: Vec<crate::usecase::TimerRequest>,
        /// Read only from results recorded by workers before timers were
        /// generic (workflows started then replay with it); never written.
        #[serde(default, skip_serializing)]
        due_in_ms: Option<u64>,
    },
    Rejected {
        code: String,
        reason: String,
    },
    /// The stored command cannot be parsed (it predates a schema change, say).
    Failed {
        reason: String,
    },
}
