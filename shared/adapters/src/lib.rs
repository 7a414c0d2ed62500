//! Adapters of KitchenEats: the outside-world side of the ports declared in
//! `kitchen-domain`, plus the platform pieces every service shares
//! (configuration, telemetry).
#![forbid(unsafe_code)]

pub mod auth;
pub mod config;
pub mod edge;
#[doc(hidden)]
pub mod fuzzing;
pub mod metrics;
pub mod ops_http;
pub mod postgres;
pub mod safe_defaults;
pub mod shutdown;
pub mod telemetry;
pub mod tenant_gate;
