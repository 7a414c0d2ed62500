//! Layered settings: `configuration/base.toml` (compiled in, so a binary works
//! from any directory), then `configuration/<KITCHEN_ENV>.toml` if present, then
//! `KITCHEN__SECTION__KEY` environment variables, then files named by
//! `KITCHEN_FILE__SECTION__KEY` variables (secrets handed over as files).

use std::path::PathBuf;

use config::{Config, Environment, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

pub(crate) const BASE: &str = include_str!("../../../configuration/base.toml");

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
    pub tenant_gate: TenantGateSettings,
    pub login: LoginSettings,
    /// Browser origins (absent section: none allowed).
    #[serde(default)]
    pub edge: EdgeSettings,
    /// Per-tenant quotas (absent sections take the defaults).
    #[serde(default)]
    pub quotas: QuotaSettings,
    /// When the gateway sheds new work (absent sections take the defaults).
    #[serde(default)]
    pub overload: OverloadSettings,
}

/// What the HTTP edge lets browsers do (`[edge]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EdgeSettings {
    /// Origins (`scheme://host[:port]`) whose pages may call the gateway
    /// (CORS) and open realtime's stream (its `Origin` check). Empty: no
    /// browser origin but the gateway's own. A TOML list, or one string of
    /// comma-separated origins (`KITCHEN__EDGE__ALLOWED_ORIGINS=a,b`).
    #[serde(deserialize_with = "list_or_csv")]
    pub allowed_origins: Vec<String>,
}

/// A list of strings given either as a list or as one comma-separated string
/// (environment variables cannot hold lists); blanks are dropped.
fn list_or_csv<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrCsv {
        List(Vec<String>),
        Csv(String),
    }
    let items = match ListOrCsv::deserialize(d)? {
        ListOrCsv::List(items) => items,
        ListOrCsv::Csv(text) => text.split(',').map(str::to_owned).collect(),
    };
    Ok(items
        .into_iter()
        .map(|item| item.trim().trim_end_matches('/').to_owned())
        .filter(|item| !item.is_empty())
        .collect())
}

/// Per-tenant quotas (`[quotas]`); `0` turns one off.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct QuotaSettings {
    /// Commands per second one tenant may send, per gateway instance (a token
    /// bucket refilled at this rate).
    pub commands_per_sec: u32,
    /// The bucket's size: how many commands a tenant may send at once.
    pub command_burst: u32,
    /// Open (pending, claimed or dispatched) commands per tenant, across every
    /// gateway (checked by the insert itself).
    pub max_open_commands: u32,
    /// Live sockets per tenant, per realtime instance.
    pub max_sockets: u32,
    /// How long a tenant-quota refusal (429) is held before it is answered
    /// (never past its `Retry-After`), so a client that ignores `Retry-After`
    /// cannot flood the gateway with refusals. `0`: answered at once.
    pub refusal_hold_ms: u64,
}

impl Default for QuotaSettings {
    fn default() -> Self {
        Self {
            commands_per_sec: 100,
            command_burst: 200,
            max_open_commands: 2000,
            max_sockets: 200,
            refusal_hold_ms: 500,
        }
    }
}

/// Overload shedding (`[overload]`): what the gateway reads from PostgreSQL
/// and when it answers 503 instead of accepting a command.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct OverloadSettings {
    /// How often each gateway reads the load (one query, cached in between).
    pub refresh_ms: u64,
    /// Shed while this many commands of all tenants are open. `0`: never.
    pub max_open_commands: u32,
    /// Shed while a live pump reports that a command first in its tenant's
    /// line waited longer than this for a start slot. `0`: never.
    pub max_head_wait_ms: u64,
    /// Backstop for what no pump's line shows: shed while the oldest command
    /// due for dispatch has waited longer than this and a pump is alive.
    /// `0`: never.
    pub max_oldest_due_ms: u64,
    /// Shed while this many commands of all tenants are in flight in Temporal
    /// (claimed or dispatched, not yet final): the queue inside Temporal's
    /// task queue and the worker's slots, which no pump line shows. Set it
    /// near what the workers finish per second times the wait you accept
    /// there. `0`: never.
    pub max_in_flight_commands: u32,
    /// A pump heartbeat older than this counts as no pump.
    pub heartbeat_fresh_ms: u64,
    /// The `Retry-After` of a 503 `overloaded`.
    pub retry_after_secs: u64,
}

impl Default for OverloadSettings {
    fn default() -> Self {
        Self {
            refresh_ms: 250,
            max_open_commands: 20000,
            max_head_wait_ms: 1000,
            max_oldest_due_ms: 30000,
            max_in_flight_commands: 0,
            heartbeat_fresh_ms: 5000,
            retry_after_secs: 1,
        }
    }
}

/// `POST /v1/auth/*` (on only when HS256 is).
#[derive(Debug, Clone, Deserialize)]
pub struct LoginSettings {
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    pub max_failures_per_account: usize,
    pub max_failures_per_address: usize,
    pub failure_window_secs: u64,
}

/// The front door (gateway and realtime serve only active tenants).
#[derive(Debug, Clone, Deserialize)]
pub struct TenantGateSettings {
    /// A cached tenant status is re-read after this long even without a NOTIFY.
    pub status_ttl_secs: u64,
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
    /// The built household console (`clients/console/dist`), served under
    /// `/console/`; unset or empty: not served.
    #[serde(default)]
    pub console_dir: Option<PathBuf>,
    /// The gateway's URL as browsers reach it (`GET /console/config.json`);
    /// unset: the scheme and host the request came in on.
    #[serde(default)]
    pub public_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RealtimeSettings {
    pub host: String,
    pub port: u16,
    pub heartbeat_secs: u64,
    pub client_timeout_secs: u64,
    pub write_timeout_secs: u64,
    pub queue_capacity: usize,
    /// Realtime's URL as browsers reach it (`ws://host:port`, for
    /// `GET /console/config.json`); unset: `ws://<the gateway's host>:<port>`.
    #[serde(default)]
    pub public_url: Option<String>,
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
    /// Most commands of one tenant in flight in Temporal (claimed or
    /// dispatched, not yet final); more wait in the table. `0`: no cap.
    #[serde(default = "default_max_in_flight_per_tenant")]
    pub max_in_flight_per_tenant: u32,
}

fn default_max_in_flight_per_tenant() -> u32 {
    8
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
    /// TLS to the server (README, "Configuration"): libpq's `sslmode`.
    #[serde(default)]
    pub sslmode: crate::postgres::tls::SslMode,
    /// A PEM file of the certificate authority that signed the server's
    /// certificate; `verify-ca` and `verify-full` need it.
    #[serde(default)]
    pub sslrootcert: String,
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
        // `host` may list several servers (`h1,h2:5433`; `port` is the default
        // port): a high-availability formation. libpq-style, the connection
        // then goes to whichever is the read-write primary, also after a
        // failover, so pools and LISTEN connections follow the primary.
        let hosts: Vec<String> = self
            .host
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(|h| {
                if h.contains(':') {
                    h.to_owned()
                } else {
                    format!("{h}:{}", self.port)
                }
            })
            .collect();
        let primary_only = if hosts.len() > 1 {
            "&target_session_attrs=read-write"
        } else {
            ""
        };
        let root = if self.sslrootcert.is_empty() {
            String::new()
        } else {
            format!("&sslrootcert={}", encode(&self.sslrootcert))
        };
        SecretString::from(format!(
            "postgres://{credentials}@{}/{}?connect_timeout={}{primary_only}&sslmode={}{root}",
            hosts.join(","),
            encode(database),
            self.connect_timeout_secs,
            self.sslmode.as_str(),
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
        let mut builder = Config::builder()
            .add_source(File::from_str(BASE, FileFormat::Toml))
            .add_source(File::from(dir.join(format!("{environment}.toml"))).required(false))
            .add_source(
                Environment::with_prefix("KITCHEN")
                    .separator("__")
                    .try_parsing(true),
            );
        for (key, value) in file_settings(std::env::vars_os())? {
            builder = builder.set_override(key, value)?;
        }
        Ok(builder.build()?.try_deserialize()?)
    }
}

/// Prefix of the variables that name a file holding a setting's value.
const FILE_PREFIX: &str = "KITCHEN_FILE__";

/// Secrets handed over as files (systemd `LoadCredential`, container
/// secrets): `KITCHEN_FILE__DATABASE__ROLES__GATEWAY=/run/credentials/x/db`
/// sets `database.roles.gateway` to the file's content (one trailing newline
/// dropped), so the secret never sits in the process environment. A file that
/// cannot be read is an error naming the variable, not a silent default.
fn file_settings(
    vars: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> Result<Vec<(String, String)>, SettingsError> {
    let mut settings = Vec::new();
    for (name, path) in vars {
        let Some(key) = name.to_str().and_then(|n| n.strip_prefix(FILE_PREFIX)) else {
            continue;
        };
        let content = std::fs::read_to_string(&path).map_err(|e| {
            config::ConfigError::Message(format!(
                "{FILE_PREFIX}{key}: cannot read {}: {e}",
                PathBuf::from(&path).display()
            ))
        })?;
        let value = content
            .strip_suffix('\n')
            .map(|v| v.strip_suffix('\r').unwrap_or(v))
            .unwrap_or(&content);
        settings.push((key.to_lowercase().replace("__", "."), value.to_owned()));
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_file_sets_its_key_without_the_trailing_newline() {
        let dir = std::env::temp_dir().join(format!("kitchen-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("db-password");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let vars = [
            ("PATH".into(), "/bin".into()),
            (
                "KITCHEN_FILE__DATABASE__ROLES__GATEWAY".into(),
                secret.clone().into_os_string(),
            ),
        ];
        let settings = file_settings(vars.into_iter()).unwrap();
        assert_eq!(
            settings,
            vec![("database.roles.gateway".to_owned(), "s3cret".to_owned())]
        );
        let missing = [(
            "KITCHEN_FILE__AUTH__HS256_SECRET".into(),
            dir.join("absent").into_os_string(),
        )];
        let error = file_settings(missing.into_iter()).unwrap_err().to_string();
        assert!(
            error.contains("KITCHEN_FILE__AUTH__HS256_SECRET") && error.contains("absent"),
            "{error}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn several_hosts_make_a_url_that_finds_the_primary() {
        let mut db = Settings::load().unwrap().database;
        db.host = "10.0.0.1, 10.0.0.2:6433".into();
        db.port = 6432;
        let url = db.role_url(DbRole::Gateway);
        let url = url.expose_secret();
        assert!(
            url.contains("@10.0.0.1:6432,10.0.0.2:6433/")
                && url.ends_with("&target_session_attrs=read-write&sslmode=disable"),
            "{url}"
        );
        db.host = "db.internal".into();
        let single = db.role_url(DbRole::Gateway);
        assert!(
            single.expose_secret().contains("@db.internal:6432/")
                && !single.expose_secret().contains("target_session_attrs"),
        );
    }

    #[test]
    fn allowed_origins_are_a_list_or_comma_separated() {
        let from = |toml: &str| -> Vec<String> {
            Config::builder()
                .add_source(File::from_str(toml, FileFormat::Toml))
                .build()
                .unwrap()
                .get::<EdgeSettings>("edge")
                .unwrap()
                .allowed_origins
        };
        let want = vec!["http://a:1".to_owned(), "https://b".to_owned()];
        assert_eq!(
            from("[edge]\nallowed_origins = [\"http://a:1\", \"https://b/\"]"),
            want
        );
        assert_eq!(
            from("[edge]\nallowed_origins = \" http://a:1 ,https://b,\""),
            want
        );
        assert!(from("[edge]\nallowed_origins = \"\"").is_empty());
        assert!(from(BASE).is_empty(), "base.toml allows no browser origin");
    }

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
