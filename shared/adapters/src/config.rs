//! Layered settings: `configuration/base.toml` (compiled in, so a binary works
//! from any directory), then `configuration/<KITCHEN_ENV>.toml` if present, then
//! `KITCHEN__SECTION__KEY` environment variables.

use std::path::PathBuf;

use config::{Config, Environment, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

const BASE: &str = include_str!("../../../configuration/base.toml");

/// Settings shared by every service and tool.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub log: LogSettings,
    pub auth: AuthSettings,
    pub gateway: GatewaySettings,
    pub realtime: RealtimeSettings,
    pub temporal: TemporalSettings,
    pub pump: PumpSettings,
    pub worker: WorkerSettings,
    /// Tenant lifecycle (absent sections take the defaults).
    #[serde(default)]
    pub platform: PlatformSettings,
}

/// The tenant lifecycle's settings (`[platform]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct PlatformSettings {
    /// How long an offboarded tenant stays disabled (restorable, its export
    /// downloadable) before it is erased.
    pub offboard_grace_secs: u64,
}

impl Default for PlatformSettings {
    fn default() -> Self {
        Self {
            offboard_grace_secs: 7 * 24 * 3600,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    pub issuer: String,
    pub audience: String,
    pub hs256_secret: SecretString,
    pub jwks_url: String,
    pub jwks_cache_secs: u64,
    pub jwks_min_refetch_secs: u64,
    pub leeway_secs: u64,
    /// The `aud` of platform tokens (tenant lifecycle); must differ from `audience`.
    #[serde(default = "default_platform_audience")]
    pub platform_audience: String,
}

fn default_platform_audience() -> String {
    kitchen_dev_token::DEFAULT_PLATFORM_AUDIENCE.to_owned()
}

#[derive(Debug, Clone, Deserialize)]
pub struct GatewaySettings {
    pub host: String,
    pub port: u16,
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RealtimeSettings {
    pub host: String,
    pub port: u16,
    pub heartbeat_secs: u64,
    pub client_timeout_secs: u64,
    pub write_timeout_secs: u64,
    pub queue_capacity: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TemporalSettings {
    pub address: String,
    pub namespace: String,
    pub task_queue: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PumpSettings {
    pub host: String,
    pub port: u16,
    pub sweep_interval_ms: u64,
    pub stale_claim_secs: u64,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    pub batch_size: u32,
    pub start_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WorkerSettings {
    pub host: String,
    pub port: u16,
    pub activity_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub host: String,
    pub port: u16,
    pub name: String,
    pub pool_size: usize,
    pub connect_timeout_secs: u64,
    pub admin: AdminSettings,
    pub roles: RolePasswords,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AdminSettings {
    pub user: String,
    pub password: SecretString,
    pub database: String,
}

/// Passwords of the login roles, one per service plus the migration owner.
#[derive(Debug, Clone, Deserialize)]
pub struct RolePasswords {
    pub owner: SecretString,
    pub gateway: SecretString,
    pub pump: SecretString,
    pub worker: SecretString,
    pub realtime: SecretString,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The login role a process connects as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DbRole {
    Owner,
    Gateway,
    Pump,
    Worker,
    Realtime,
}

impl DbRole {
    pub const SERVICES: [DbRole; 4] = [
        DbRole::Gateway,
        DbRole::Pump,
        DbRole::Worker,
        DbRole::Realtime,
    ];

    /// The Postgres role name (fixed: migrations grant to these names).
    pub fn role_name(self) -> &'static str {
        match self {
            DbRole::Owner => "kitchen_owner",
            DbRole::Gateway => "kitchen_gateway",
            DbRole::Pump => "kitchen_pump",
            DbRole::Worker => "kitchen_worker",
            DbRole::Realtime => "kitchen_realtime",
        }
    }
}

impl RolePasswords {
    pub fn for_role(&self, role: DbRole) -> &SecretString {
        match role {
            DbRole::Owner => &self.owner,
            DbRole::Gateway => &self.gateway,
            DbRole::Pump => &self.pump,
            DbRole::Worker => &self.worker,
            DbRole::Realtime => &self.realtime,
        }
    }
}

impl DatabaseSettings {
    /// URL to connect to `database` as `role`.
    pub fn url_for(&self, role: DbRole, database: &str) -> SecretString {
        self.url(role.role_name(), self.roles.for_role(role), database)
    }

    /// URL to this deployment's database as `role`.
    pub fn role_url(&self, role: DbRole) -> SecretString {
        self.url_for(role, &self.name)
    }

    /// URL of the admin (superuser) connection used by bootstrap.
    pub fn admin_url(&self) -> SecretString {
        self.url(&self.admin.user, &self.admin.password, &self.admin.database)
    }

    fn url(&self, user: &str, password: &SecretString, database: &str) -> SecretString {
        let password = password.expose_secret();
        let credentials = if password.is_empty() {
            encode(user)
        } else {
            format!("{}:{}", encode(user), encode(password))
        };
        SecretString::from(format!(
            "postgres://{credentials}@{}:{}/{}?connect_timeout={}",
            self.host,
            self.port,
            encode(database),
            self.connect_timeout_secs
        ))
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct SettingsError(#[from] config::ConfigError);

impl Settings {
    /// Loads the layers described in the module docs.
    pub fn load() -> Result<Self, SettingsError> {
        let dir = std::env::var_os("KITCHEN_CONFIG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("configuration"));
        let environment = std::env::var("KITCHEN_ENV").unwrap_or_else(|_| "local".into());
        let settings = Config::builder()
            .add_source(File::from_str(BASE, FileFormat::Toml))
            .add_source(File::from(dir.join(format!("{environment}.toml"))).required(false))
            .add_source(
                Environment::with_prefix("KITCHEN")
                    .separator("__")
                    .try_parsing(true),
            )
            .build()?;
        Ok(settings.try_deserialize()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_defaults_load() {
        let settings = Settings::load().unwrap();
        assert_eq!(settings.database.port, 5432);
        assert_eq!(settings.log.format, LogFormat::Pretty);
    }

    /// The CLI mints development tokens without this loader, from the
    /// defaults in kitchen-dev-token: they must stay those of base.toml.
    #[test]
    fn the_dev_token_defaults_are_those_of_base_toml() {
        let base: AuthSettings = Config::builder()
            .add_source(File::from_str(BASE, FileFormat::Toml))
            .build()
            .unwrap()
            .get("auth")
            .unwrap();
        assert_eq!(
            (
                base.hs256_secret.expose_secret(),
                base.issuer.as_str(),
                base.audience.as_str()
            ),
            (
                kitchen_dev_token::DEFAULT_SECRET,
                kitchen_dev_token::DEFAULT_ISSUER,
                kitchen_dev_token::DEFAULT_AUDIENCE
            )
        );
    }

    #[test]
    fn urls_encode_credentials() {
        let mut db = Settings::load().unwrap().database;
        db.roles.gateway = SecretString::from("p@ss:w/rd");
        let url = db.role_url(DbRole::Gateway);
        assert!(
            url.expose_secret()
                .starts_with("postgres://kitchen_gateway:p%40ss%3Aw%2Frd@"),
            "{}",
            url.expose_secret()
        );
    }
}
