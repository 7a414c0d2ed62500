//! Test harness: every test gets its own freshly migrated database on the real
//! PostgreSQL, so tests run in parallel without seeing each other's rows, and
//! connects to it as the same least-privilege roles the services use.
#![forbid(unsafe_code)]

use anyhow::Context;
use kitchen_adapters::config::{DatabaseSettings, DbRole, Settings};
use kitchen_adapters::postgres::{self, bootstrap, migrate, PgPool};
use secrecy::SecretString;
use tokio::sync::OnceCell;

pub mod fixtures;
pub mod platform_api;
pub mod poll;
pub mod process;
pub mod socket;
pub mod temporal;
pub mod tokens;
pub mod views;

static BOOTSTRAPPED: OnceCell<()> = OnceCell::const_new();

/// A migrated database that is dropped when the value goes out of scope.
#[derive(Debug)]
pub struct TestDb {
    pub name: String,
    pub settings: DatabaseSettings,
}

impl TestDb {
    /// Creates `kitchen_test_<uuid>` owned by `kitchen_owner` and runs every
    /// migration as that owner, exactly as `kitchen-admin setup` does.
    pub async fn new() -> anyhow::Result<TestDb> {
        kitchen_adapters::telemetry::init_for_tests();
        let settings = Settings::load().context("loading settings")?.database;
        let name = format!("kitchen_test_{}", uuid::Uuid::new_v4().simple());
        // Roles are cluster-wide: create/update them once per test process.
        BOOTSTRAPPED
            .get_or_try_init(|| bootstrap::ensure_roles(&settings))
            .await
            .context("bootstrapping roles (is PostgreSQL running? see README)")?;
        bootstrap::ensure_database(&settings, &name).await?;
        let db = TestDb { name, settings };
        migrate::run_pending(&db.url(DbRole::Owner))
            .await
            .context("migrating the test database")?;
        Ok(db)
    }

    /// The URL of this database as `role`.
    pub fn url(&self, role: DbRole) -> SecretString {
        self.settings.url_for(role, &self.name)
    }

    /// Settings of the whole platform pointed at this database, with every
    /// service on port 0 (a free port).
    pub fn platform_settings(&self) -> Settings {
        let mut settings = Settings::load().expect("settings load");
        settings.database = self.settings.clone();
        settings.database.name = self.name.clone();
        settings.database.pool_size = 8;
        settings.gateway.port = 0;
        settings.realtime.port = 0;
        settings.pump.port = 0;
        settings.worker.port = 0;
        settings
    }

    /// A connection as `role` inside an open transaction with `tenant` set.
    async fn tenant_tx(
        &self,
        role: DbRole,
        tenant: kitchen_domain::TenantId,
    ) -> diesel_async::AsyncPgConnection {
        use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
        let url = self.url(role);
        let mut conn = AsyncPgConnection::establish(secrecy::ExposeSecret::expose_secret(&url))
            .await
            .expect("connect");
        conn.batch_execute(&format!(
            "BEGIN; SELECT set_config('app.tenant_id', '{tenant}', true)"
        ))
        .await
        .expect("begin");
        conn
    }

    /// Counts the tenant's rows in `table`, as the worker (which may read them all).
    pub async fn count_rows(&self, table: &str, tenant: kitchen_domain::TenantId) -> i64 {
        use diesel::sql_types::BigInt;
        use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let mut conn = self.tenant_tx(DbRole::Worker, tenant).await;
        let count: Count = diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
            .get_result(&mut conn)
            .await
            .expect("count");
        conn.batch_execute("COMMIT").await.expect("commit");
        count.n
    }

    /// Runs `sql` as the worker role with `tenant` set; returns affected rows.
    pub async fn execute_as_worker(&self, tenant: kitchen_domain::TenantId, sql: &str) -> usize {
        self.execute_as(DbRole::Worker, tenant, sql).await
    }

    /// Runs `sql` as `role` with `tenant` set; returns affected rows.
    pub async fn execute_as(
        &self,
        role: DbRole,
        tenant: kitchen_domain::TenantId,
        sql: &str,
    ) -> usize {
        use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
        let mut conn = self.tenant_tx(role, tenant).await;
        let n = diesel::sql_query(sql)
            .execute(&mut conn)
            .await
            .expect("execute");
        conn.batch_execute("COMMIT").await.expect("commit");
        n
    }

    /// `count` pending `createOrder` commands of `tenant` in one INSERT as the
    /// gateway role (under RLS): a backlog accepted earlier, e.g. by many
    /// gateways. Returns how many rows were inserted.
    pub async fn insert_pending_orders(
        &self,
        tenant: kitchen_domain::TenantId,
        count: usize,
    ) -> usize {
        let sql = format!(
            "INSERT INTO commands (tenant_id, id, type, payload, aggregate_id, correlation_id)
             SELECT '{tenant}', gen_random_uuid(), 'createOrder',
                    jsonb_build_object('orderId', o, 'userId', 'user-1',
                                       'items', jsonb_build_array(
                                           jsonb_build_object('menuItemId', 'menu-item-1', 'quantity', 1))),
                    o, gen_random_uuid()
             FROM (SELECT gen_random_uuid() AS o FROM generate_series(1, {count})) AS orders"
        );
        self.execute_as(DbRole::Gateway, tenant, &sql).await
    }

    /// A new household with status `active`, inserted as the owner: what tests
    /// that are not about the tenant lifecycle use, so the front door (only
    /// active tenants are served) lets their tokens in.
    pub async fn active_tenant(&self) -> kitchen_domain::TenantId {
        self.tenant_with_status("active").await
    }

    /// `count` new active households, inserted on one owner connection, one
    /// transaction each (the owner is bound by RLS too).
    pub async fn active_tenants(&self, count: usize) -> Vec<kitchen_domain::TenantId> {
        use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
        let tenants: Vec<_> = (0..count)
            .map(|_| kitchen_domain::TenantId::new_random())
            .collect();
        let url = self.url(DbRole::Owner);
        let mut conn = AsyncPgConnection::establish(secrecy::ExposeSecret::expose_secret(&url))
            .await
            .expect("connect as owner");
        for chunk in tenants.chunks(500) {
            let batch: String = chunk
                .iter()
                .map(|tenant| {
                    format!(
                        "BEGIN; SELECT set_config('app.tenant_id', '{tenant}', true); \
                         INSERT INTO tenants (tenant_id, name, status) VALUES ('{tenant}', 'test household', 'active'); COMMIT;"
                    )
                })
                .collect();
            conn.batch_execute(&batch).await.expect("insert tenants");
        }
        tenants
    }

    /// A new household with `status` (e.g. `provisioning`, `disabled`).
    pub async fn tenant_with_status(&self, status: &str) -> kitchen_domain::TenantId {
        let tenant = kitchen_domain::TenantId::new_random();
        self.insert_tenant(tenant, status).await;
        tenant
    }

    /// Inserts the `tenants` row of `tenant` with `status`, as the owner.
    pub async fn insert_tenant(&self, tenant: kitchen_domain::TenantId, status: &str) {
        let inserted = self
            .execute_as(
                DbRole::Owner,
                tenant,
                &format!(
                    "INSERT INTO tenants (tenant_id, name, status) VALUES ('{tenant}', 'test household', '{status}')"
                ),
            )
            .await;
        assert_eq!(inserted, 1, "tenant {tenant} inserted");
    }

    /// Sets the status of `tenant` (as the owner; NOTIFYs `tenants`).
    pub async fn set_tenant_status(&self, tenant: kitchen_domain::TenantId, status: &str) {
        let updated = self
            .execute_as(
                DbRole::Owner,
                tenant,
                &format!("UPDATE tenants SET status = '{status}' WHERE tenant_id = '{tenant}'"),
            )
            .await;
        assert_eq!(updated, 1, "status of tenant {tenant} set");
    }

    /// Seeds an order as release 1 wrote it (see [`fixtures::v1_order_rows`]).
    pub async fn seed_v1_order(
        &self,
        tenant: kitchen_domain::TenantId,
        order: kitchen_domain::AggregateId,
    ) {
        for sql in fixtures::v1_order_rows(tenant, order, kitchen_domain::CommandId::new_random()) {
            self.execute_as_worker(tenant, &sql).await;
        }
    }

    /// Terminates every session of `role` on this database (as the admin);
    /// returns how many were terminated.
    pub async fn terminate_backends(&self, role: &str) -> i64 {
        use diesel::sql_types::{BigInt, Text};
        use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let url = self.settings.admin_url();
        let mut conn = AsyncPgConnection::establish(secrecy::ExposeSecret::expose_secret(&url))
            .await
            .expect("connect as admin");
        let count: Count = diesel::sql_query(
            "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = $1 AND usename = $2",
        )
        .bind::<Text, _>(&self.name)
        .bind::<Text, _>(role)
        .get_result(&mut conn)
        .await
        .expect("terminate");
        count.n
    }

    /// A connection pool logged in as `role`.
    pub fn pool(&self, role: DbRole) -> PgPool {
        postgres::pool(&self.url(role), 16).expect("pool config is valid")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let settings = self.settings.clone();
        let name = std::mem::take(&mut self.name);
        // Drop is synchronous and may run inside a runtime: use a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for cleanup");
            if let Err(e) = runtime.block_on(bootstrap::drop_database(&settings, &name)) {
                eprintln!("could not drop test database {name}: {e}");
            }
        })
        .join();
    }
}
