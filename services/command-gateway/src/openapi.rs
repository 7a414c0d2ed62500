//! The OpenAPI 3.1 document of the command API, generated from the wire types
//! (`kitchen-wire`) and the handlers' `#[utoipa::path]` annotations, and served
//! at `GET /openapi.json`. Every status an operation can answer is listed.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{auth, commands, health, members, reads, tenants, views};

/// Adds the bearer scheme every `/v1` operation uses.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "HS256 (shared secret) or RS256/ES256 (JWKS) with a `tenant_id` claim; the /v1/tenants platform API takes only platform tokens (`role: platform_admin`, audience `auth.platform_audience`)",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "KitchenEats command API",
        description = "Commands in, their outcomes and the event log out. The live stream is described by docs/asyncapi.yaml.",
        version = "1"
    ),
    paths(
        commands::submit,
        commands::status,
        commands::by_correlation,
        reads::snapshot,
        reads::events,
        auth::token,
        auth::refresh,
        auth::logout,
        members::add,
        members::remove,
        members::change_password,
        views::view,
        health::healthz,
        health::readyz,
        tenants::create,
        tenants::list,
        tenants::show,
        tenants::cancel,
        tenants::update,
        tenants::offboard,
        tenants::restore,
        tenants::export,
    ),
    components(schemas(
        kitchen_wire::SubmitCommand,
        kitchen_wire::CommandAccepted,
        kitchen_wire::CommandView,
        kitchen_wire::CommandsPage,
        kitchen_wire::Rejection,
        kitchen_wire::EventView,
        kitchen_wire::EventsPage,
        kitchen_wire::SnapshotView,
        kitchen_wire::TenantSnapshotView,
        kitchen_wire::ViewAtSeq,
        kitchen_wire::StreamFrame,
        kitchen_wire::Problem,
        kitchen_wire::Health,
        kitchen_wire::LoginRequest,
        kitchen_wire::RefreshRequest,
        kitchen_wire::TokenResponse,
        kitchen_wire::AddMember,
        kitchen_wire::MemberView,
        kitchen_wire::ChangePassword,
        kitchen_wire::CreateTenant,
        kitchen_wire::NewAdmin,
        kitchen_wire::TenantAccepted,
        kitchen_wire::TenantView,
        kitchen_wire::TenantsPage,
        kitchen_wire::ProvisioningView,
        kitchen_wire::StepErrorView,
        kitchen_wire::CancelTenant,
        kitchen_wire::UpdateTenant,
    )),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// Closes every object schema that lists its properties
/// (`additionalProperties: false`), as the wire types deny unknown fields: a
/// field the server sends without documenting it fails the contract test.
/// Free-form objects (payloads, metadata, state) list none and stay open.
fn close_objects(schema: &mut serde_json::Value) {
    match schema {
        serde_json::Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), false.into());
            }
            map.values_mut().for_each(close_objects);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

/// The document as a JSON value.
pub fn document() -> serde_json::Value {
    let mut document =
        serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises");
    if let Some(schemas) = document.pointer_mut("/components/schemas") {
        close_objects(schemas);
    }
    document
}

/// The document as JSON (pretty, so `docs/openapi.json` diffs well).
pub fn document_json() -> String {
    serde_json::to_string_pretty(&document()).expect("JSON serialises")
}

#[cfg(test)]
mod tests {
    /// `docs/openapi.json` is the document the gateway serves: regenerate it
    /// with `KITCHEN_WRITE_OPENAPI=1 cargo test -p command-gateway openapi`.
    #[test]
    fn the_published_document_is_the_generated_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
        let generated = super::document_json() + "\n";
        if std::env::var_os("KITCHEN_WRITE_OPENAPI").is_some() {
            std::fs::write(path, &generated).expect("write docs/openapi.json");
        }
        let published = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            published == generated,
            "docs/openapi.json is stale: regenerate it (see this test's docs)"
        );
    }
}
