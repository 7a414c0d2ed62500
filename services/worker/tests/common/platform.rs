//! The platform API for tests: platform tokens, provisioning requests, waiting
//! for a tenant's status, and what is left of a tenant in every table.
#![allow(dead_code)]

use std::time::Duration;

use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use kitchen_adapters::config::DbRole;
use kitchen_domain::TenantId;
use kitchen_test_support::poll;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use uuid::Uuid;

use super::Stack;

/// How long a saga may take in these tests.
pub const SAGA: Duration = Duration::from_secs(60);

impl Stack {
    /// An owner connection inside a transaction (with `tenant` set, if any).
    async fn owner_tx(&self, tenant: Option<TenantId>) -> AsyncPgConnection {
        let url = self.db.url(DbRole::Owner);
        let mut conn = AsyncPgConnection::establish(url.expose_secret())
            .await
            .unwrap();
        conn.batch_execute("BEGIN").await.unwrap();
        if let Some(tenant) = tenant {
            conn.batch_execute(&format!(
                "SELECT set_config('app.tenant_id', '{tenant}', true)"
            ))
            .await
            .unwrap();
        }
        conn
    }

    pub fn platform_token(&self) -> String {
        kitchen_adapters::auth::mint_platform_token(
            &self.settings.auth,
            "ops@test",
            Duration::from_secs(600),
        )
        .unwrap()
    }

    /// `method path` with a platform token and `body`; status and JSON body.
    pub async fn platform(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.platform_as(&self.platform_token(), method, path, body)
            .await
    }

    pub async fn platform_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// POSTs `request` to /v1/tenants; the tenant id. Panics unless 202.
    pub async fn provision(&self, request: Value) -> TenantId {
        let (status, body) = self
            .platform(reqwest::Method::POST, "/v1/tenants", Some(request))
            .await;
        assert_eq!(status, 202, "{body}");
        body["tenantId"].as_str().unwrap().parse().unwrap()
    }

    pub async fn tenant_view(&self, tenant: TenantId) -> (u16, Value) {
        self.platform(reqwest::Method::GET, &format!("/v1/tenants/{tenant}"), None)
            .await
    }

    /// Waits until the tenant's status is `status`; its view.
    pub async fn wait_status(&self, tenant: TenantId, status: &str) -> Value {
        poll::until(SAGA, &format!("tenant {tenant} {status}"), || async {
            let (code, view) = self.tenant_view(tenant).await;
            (code == 200 && view["status"] == status).then_some(view)
        })
        .await
    }

    /// Waits for the tombstone of a saga that ended `status` (the tenants row
    /// with its step; until it is written, a failed provisioning command alone
    /// already reads `failed`, without the step).
    pub async fn wait_tombstone(&self, tenant: TenantId, status: &str) -> Value {
        poll::until(
            SAGA,
            &format!("tenant {tenant} tombstoned {status}"),
            || async {
                let (code, view) = self.tenant_view(tenant).await;
                (code == 200 && view["status"] == status && view["step"].is_string())
                    .then_some(view)
            },
        )
        .await
    }

    /// Rows of `tenant` in every table with a `tenant_id` column (from the
    /// catalog, so tables added later count too), read as the owner; only
    /// tables that hold some.
    pub async fn residue(&self, tenant: TenantId) -> Vec<(String, i64)> {
        #[derive(QueryableByName)]
        struct Table {
            #[diesel(sql_type = diesel::sql_types::Text)]
            name: String,
        }
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.owner_tx(None).await;
        let tables: Vec<Table> = diesel::sql_query(
            "SELECT c.relname::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_attribute a ON a.attrelid = c.oid
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attname = 'tenant_id'
             ORDER BY 1",
        )
        .load(&mut conn)
        .await
        .unwrap();
        conn.batch_execute(&format!(
            "SELECT set_config('app.tenant_id', '{tenant}', true)"
        ))
        .await
        .unwrap();
        let mut out = Vec::new();
        for table in tables {
            let count: Count =
                diesel::sql_query(format!("SELECT count(*) AS n FROM {}", table.name))
                    .get_result(&mut conn)
                    .await
                    .unwrap();
            if count.n > 0 {
                out.push((table.name, count.n));
            }
        }
        conn.batch_execute("COMMIT").await.unwrap();
        out
    }

    /// The status of command `id` of `tenant`.
    pub async fn command_status(&self, tenant: TenantId, id: Uuid) -> String {
        self.owner_texts(
            tenant,
            &format!("SELECT status AS t FROM commands WHERE id = '{id}'"),
        )
        .await
        .pop()
        .unwrap_or_default()
    }

    /// Waits until the pump has delivered command `id` (its signal or start).
    pub async fn wait_routed(&self, tenant: TenantId, id: Uuid) {
        poll::until(SAGA, "command routed", || async {
            let status = self.command_status(tenant, id).await;
            (!matches!(status.as_str(), "pending" | "claimed")).then_some(())
        })
        .await
    }

    /// `sql` as the owner with `tenant` set; the first column of each row as text.
    pub async fn owner_texts(&self, tenant: TenantId, sql: &str) -> Vec<String> {
        #[derive(QueryableByName)]
        struct Text {
            #[diesel(sql_type = diesel::sql_types::Text)]
            t: String,
        }
        let url = self.db.url(DbRole::Owner);
        let mut conn = AsyncPgConnection::establish(url.expose_secret())
            .await
            .unwrap();
        conn.batch_execute(&format!(
            "BEGIN; SELECT set_config('app.tenant_id', '{tenant}', true)"
        ))
        .await
        .unwrap();
        let rows: Vec<Text> = diesel::sql_query(sql).load(&mut conn).await.unwrap();
        conn.batch_execute("COMMIT").await.unwrap();
        rows.into_iter().map(|r| r.t).collect()
    }
}

/// A provisioning request with `password` for its admin.
pub fn household(name: &str, password: &str) -> Value {
    json!({
        "id": Uuid::new_v4(),
        "name": name,
        "plan": "family",
        "admin": {"email": "sam@example.com", "displayName": "Sam", "password": password}
    })
}

/// Only the tombstone and the platform commands are left.
pub fn tombstone_only(residue: &[(String, i64)]) -> bool {
    residue
        .iter()
        .all(|(t, _)| t == "tenants" || t == "commands")
        && residue.iter().any(|(t, n)| t == "tenants" && *n == 1)
}
