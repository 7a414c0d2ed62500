//! The wire contract: every body the HTTP API takes or answers and every frame
//! the stream sends, as types. The gateway and realtime serialise these, the
//! CLI, the tests and the bench deserialise them, and the OpenAPI document is
//! generated from them (`utoipa`), so the documents and the code cannot drift.
//!
//! Response types deny unknown fields: a client built on them notices a field
//! the server added without documenting it (the contract test does).
#![forbid(unsafe_code)]

mod auth;
mod commands;
mod events;
mod frames;
mod problem;
mod tenants;
mod views;

pub use auth::{
    AddMember, ChangePassword, LoginRequest, MemberView, RefreshRequest, TokenResponse,
};
pub use commands::{
    CommandAccepted, CommandStatus, CommandView, CommandsPage, Rejection, SubmitCommand,
};
pub use events::{EventView, EventsPage, SnapshotView, TenantSnapshotView};
pub use frames::{
    StreamFrame, CLOSE_GOING_AWAY, CLOSE_REHYDRATE, CLOSE_SERVER_ERROR, CLOSE_TENANT_NOT_ACTIVE,
    CLOSE_TOKEN_EXPIRED, CLOSE_TOO_SLOW,
};
pub use problem::{Health, Problem};
pub use tenants::{
    CancelTenant, CreateTenant, NewAdmin, ProvisioningView, StepErrorView, TenantAccepted,
    TenantView, TenantsPage, UpdateTenant,
};
pub use views::ViewAtSeq;
