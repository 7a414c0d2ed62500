//! The whole platform the drill owns: its PostgreSQL cluster, its Temporal
//! dev server, the schema and roles (`kitchen-admin setup`), the four
//! services, and the households it provisions through the platform API.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};
use kitchen_adapters::auth::mint_platform_token;
use kitchen_adapters::config::AuthSettings;
use kitchen_domain::TenantId;
use kitchen_test_support::{platform_api, tokens};
use serde_json::json;

use crate::cluster::Cluster;
use crate::load::{Clients, Tenant};
use crate::process::{self, Service, SERVICES};
use crate::temporal::Temporal;

/// The database the drill creates in its cluster.
pub const DATABASE: &str = "kitchen_drill";

/// The platform's settings that the drill chooses (the rest are base.toml's).
#[derive(Debug, Clone)]
pub struct Knobs {
    pub commands_per_sec: u32,
    pub overload_max_open: u32,
    pub pool_size: u32,
}

#[derive(Debug)]
pub struct Platform {
    pub cluster: Cluster,
    pub temporal: Temporal,
    pub services: Vec<Service>,
    pub auth: AuthSettings,
}

impl Platform {
    pub async fn start(
        pg_bin: &Path,
        lib: &Path,
        out: &Path,
        knobs: &Knobs,
        keep: bool,
    ) -> anyhow::Result<Platform> {
        let logs = out.join("logs");
        // A fresh Temporal database every run (the file survives only the
        // drill's own Temporal restart).
        let temporal_dir = out.join("temporal");
        let _ = std::fs::remove_dir_all(&temporal_dir);
        std::fs::create_dir_all(&logs)?;
        let cluster = Cluster::create(pg_bin, process::free_port(), keep)?;
        println!(
            "  PostgreSQL cluster on 127.0.0.1:{} ({})",
            cluster.port,
            cluster.log_file().display()
        );
        let temporal = Temporal::start(lib, &temporal_dir, process::free_port())?;
        println!(
            "  Temporal dev server on {} (file-backed)",
            temporal.address()
        );
        let env = environment(&cluster, &temporal, knobs);
        let setup = Command::new(process::binary("kitchen-admin")?)
            .arg("setup")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .context("running kitchen-admin setup")?;
        if !setup.status.success() {
            bail!(
                "kitchen-admin setup failed: {}",
                String::from_utf8_lossy(&setup.stderr)
            );
        }
        let mut services = Vec::new();
        for name in SERVICES {
            services.push(Service::start(name, env.clone(), &logs).await?);
        }
        let auth = kitchen_adapters::config::Settings::load()
            .context("loading the settings (for the tokens)")?
            .auth;
        Ok(Platform {
            cluster,
            temporal,
            services,
            auth,
        })
    }

    pub fn service(&mut self, name: &str) -> &mut Service {
        self.services
            .iter_mut()
            .find(|s| s.name == name)
            .expect("one of the four services")
    }

    pub fn gateway(&self) -> String {
        self.services[0].url("http")
    }

    pub fn realtime(&self) -> String {
        self.services[3].url("ws")
    }

    /// Provisions `count` households through `POST /v1/tenants` (a platform
    /// token) and waits until each is `active`; each gets a tenant token.
    pub async fn provision(&self, clients: &Clients, count: usize) -> anyhow::Result<Vec<Tenant>> {
        let platform = mint_platform_token(&self.auth, "drill@ops", Duration::from_secs(6 * 3600))?;
        let households = (0..count).map(|index| {
            let platform = platform.clone();
            async move {
                let id = provision_one(clients, &platform, index).await?;
                let claims = tokens::claims(&self.auth, id, 6 * 3600);
                let secret =
                    secrecy::ExposeSecret::expose_secret(&self.auth.hs256_secret).to_owned();
                anyhow::Ok(Tenant {
                    index,
                    id,
                    token: tokens::hs256(&secret, &claims),
                })
            }
        });
        futures_util::future::try_join_all(households).await
    }
}

async fn provision_one(
    clients: &Clients,
    platform: &str,
    index: usize,
) -> anyhow::Result<TenantId> {
    let household = json!({
        "name": format!("Drill household {index}"),
        "admin": {
            "email": format!("admin{index}@drill.example"),
            "displayName": "Drill admin",
            "password": "a long enough drill password"
        }
    });
    platform_api::provision(
        &clients.http,
        &clients.gateway,
        platform,
        &household,
        Duration::from_millis(100),
        Duration::from_secs(120),
    )
    .await
}

/// The `KITCHEN__…` settings of every process the drill starts.
fn environment(cluster: &Cluster, temporal: &Temporal, knobs: &Knobs) -> Vec<(String, String)> {
    let log = std::env::var("KITCHEN_DRILL_LOG").unwrap_or_else(|_| "warn".into());
    [
        // The drill runs with the built-in development secrets, which a
        // service refuses outside a development KITCHEN_ENV.
        ("KITCHEN_ENV", "test".to_owned()),
        ("KITCHEN__DATABASE__HOST", "127.0.0.1".to_owned()),
        ("KITCHEN__DATABASE__PORT", cluster.port.to_string()),
        ("KITCHEN__DATABASE__NAME", DATABASE.to_owned()),
        ("KITCHEN__DATABASE__SSLMODE", "disable".to_owned()),
        ("KITCHEN__DATABASE__POOL_SIZE", knobs.pool_size.to_string()),
        ("KITCHEN__DATABASE__ADMIN__USER", "postgres".to_owned()),
        ("KITCHEN__DATABASE__ADMIN__DATABASE", "postgres".to_owned()),
        ("KITCHEN__TEMPORAL__ADDRESS", temporal.address()),
        (
            "KITCHEN__QUOTAS__COMMANDS_PER_SEC",
            knobs.commands_per_sec.to_string(),
        ),
        (
            "KITCHEN__QUOTAS__COMMAND_BURST",
            knobs.commands_per_sec.to_string(),
        ),
        (
            "KITCHEN__OVERLOAD__MAX_OPEN_COMMANDS",
            knobs.overload_max_open.to_string(),
        ),
        // A claim left by a killed pump is retaken after this long (the
        // default, 30 s, only stretches the drill).
        ("KITCHEN__PUMP__STALE_CLAIM_SECS", "10".to_owned()),
        ("RUST_LOG", log),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// `target/drill` under the working directory unless told otherwise.
pub fn default_out() -> PathBuf {
    PathBuf::from("target/drill")
}
