//! Production-safe defaults: `configuration/base.toml` ships a public HS256
//! key and public role passwords so that a fresh clone runs with no setup.
//! Anyone who has read the repository could mint a token for any tenant with
//! that key, so a service refuses to start with it (or with its role's
//! built-in password) unless `KITCHEN_ENV` says this is a development
//! machine: `local`, `test` or `development`. An unset `KITCHEN_ENV` is not a
//! development machine: a deployment that forgets to say what it is gets the
//! safe answer.

use secrecy::ExposeSecret;

use crate::config::{DbRole, Settings, BASE};

/// The values of `KITCHEN_ENV` under which the built-in secrets are accepted.
pub const DEVELOPMENT_ENVIRONMENTS: [&str; 3] = ["local", "test", "development"];

/// A built-in development secret in a process that is not on a development
/// machine. `Display` names the setting, its variable and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "refusing to start: {setting} is the built-in development value of configuration/base.toml \
     (public, so anyone could use it) and KITCHEN_ENV is {environment}; set {setting} to a secret \
     of your own (variable {variable}, or a file named by KITCHEN_FILE__{file_suffix}){hint}, \
     or set KITCHEN_ENV to local, test or development on a development machine"
)]
pub struct DevelopmentSecret {
    /// The setting, e.g. `auth.hs256_secret`.
    pub setting: String,
    /// The environment variable that sets it, e.g. `KITCHEN__AUTH__HS256_SECRET`.
    pub variable: String,
    file_suffix: String,
    environment: String,
    hint: &'static str,
}

impl DevelopmentSecret {
    fn new(setting: &str, environment: Option<&str>, hint: &'static str) -> Self {
        let suffix = setting.to_uppercase().replace('.', "__");
        Self {
            setting: setting.to_owned(),
            variable: format!("KITCHEN__{suffix}"),
            file_suffix: suffix,
            environment: environment.map_or_else(|| "unset".to_owned(), |e| format!("{e:?}")),
            hint,
        }
    }
}

/// What a service uses of the settings: its database role, and whether it
/// verifies tokens (gateway, realtime) with `auth.hs256_secret`.
#[derive(Debug, Clone, Copy)]
pub struct ServiceSecrets {
    pub role: DbRole,
    pub verifies_tokens: bool,
}

/// Refuses `settings` if the process is not on a development machine (see
/// the module docs; `KITCHEN_ENV` is read here) and a secret `service` uses
/// is the built-in one.
pub fn refuse_development_secrets(
    settings: &Settings,
    service: ServiceSecrets,
) -> Result<(), DevelopmentSecret> {
    let environment = std::env::var("KITCHEN_ENV").ok();
    check(settings, service, environment.as_deref())
}

/// [`refuse_development_secrets`] for a given `KITCHEN_ENV` (`None`: unset).
pub fn check(
    settings: &Settings,
    service: ServiceSecrets,
    environment: Option<&str>,
) -> Result<(), DevelopmentSecret> {
    if environment.is_some_and(|e| DEVELOPMENT_ENVIRONMENTS.contains(&e)) {
        return Ok(());
    }
    let built_in = built_in();
    if service.verifies_tokens {
        let secret = settings.auth.hs256_secret.expose_secret();
        if !secret.is_empty() && secret == built_in.auth.hs256_secret.expose_secret() {
            return Err(DevelopmentSecret::new(
                "auth.hs256_secret",
                environment,
                " (or set it empty and auth.jwks_url to your identity provider's keys)",
            ));
        }
    }
    let role = service.role;
    let password = settings.database.roles.for_role(role).expose_secret();
    if password == built_in.database.roles.for_role(role).expose_secret() {
        return Err(DevelopmentSecret::new(
            &format!("database.roles.{}", role_key(role)),
            environment,
            " (and give the role that password: kitchen-admin setup does)",
        ));
    }
    Ok(())
}

/// The key of `role` under `[database.roles]`.
fn role_key(role: DbRole) -> &'static str {
    match role {
        DbRole::Owner => "owner",
        DbRole::Gateway => "gateway",
        DbRole::Pump => "pump",
        DbRole::Worker => "worker",
        DbRole::Realtime => "realtime",
    }
}

/// The settings of `configuration/base.toml` alone (compiled in).
fn built_in() -> Settings {
    config::Config::builder()
        .add_source(config::File::from_str(BASE, config::FileFormat::Toml))
        .build()
        .and_then(config::Config::try_deserialize)
        .expect("configuration/base.toml is complete (tested)")
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    const GATEWAY: ServiceSecrets = ServiceSecrets {
        role: DbRole::Gateway,
        verifies_tokens: true,
    };
    const PUMP: ServiceSecrets = ServiceSecrets {
        role: DbRole::Pump,
        verifies_tokens: false,
    };

    fn own_secrets() -> Settings {
        let mut settings = built_in();
        settings.auth.hs256_secret = SecretString::from("a-key-of-our-own-0123456789abcdef");
        settings.database.roles.gateway = SecretString::from("gateway-of-our-own");
        settings.database.roles.pump = SecretString::from("pump-of-our-own");
        settings
    }

    #[test]
    fn development_machines_accept_the_built_in_secrets() {
        for environment in DEVELOPMENT_ENVIRONMENTS {
            assert_eq!(check(&built_in(), GATEWAY, Some(environment)), Ok(()));
        }
    }

    #[test]
    fn the_built_in_hs256_key_is_refused_elsewhere_naming_the_setting() {
        for environment in [None, Some("production"), Some("container"), Some("Local")] {
            let mut settings = own_secrets();
            settings.auth.hs256_secret = built_in().auth.hs256_secret;
            let error = check(&settings, GATEWAY, environment).unwrap_err();
            assert_eq!(error.setting, "auth.hs256_secret");
            let message = error.to_string();
            assert!(
                message.contains("KITCHEN__AUTH__HS256_SECRET")
                    && message.contains("KITCHEN_FILE__AUTH__HS256_SECRET")
                    && message.contains("KITCHEN_ENV"),
                "{message}"
            );
            assert!(
                !message.contains(built_in().auth.hs256_secret.expose_secret()),
                "the message does not repeat the secret"
            );
        }
    }

    #[test]
    fn the_built_in_role_password_of_the_service_is_refused() {
        let mut settings = own_secrets();
        settings.database.roles.pump = built_in().database.roles.pump;
        let error = check(&settings, PUMP, None).unwrap_err();
        assert_eq!(error.setting, "database.roles.pump");
        assert_eq!(error.variable, "KITCHEN__DATABASE__ROLES__PUMP");
        // Another service's built-in password is not this service's business
        // (a systemd unit hands each service only its own).
        assert_eq!(check(&settings, GATEWAY, None), Ok(()));
    }

    #[test]
    fn own_secrets_start_anywhere_and_an_empty_hs256_key_means_jwks_only() {
        assert_eq!(check(&own_secrets(), GATEWAY, None), Ok(()));
        let mut jwks_only = own_secrets();
        jwks_only.auth.hs256_secret = SecretString::from("");
        assert_eq!(check(&jwks_only, GATEWAY, Some("production")), Ok(()));
        // The pump never verifies tokens: the built-in key does not matter to it.
        let mut pump = own_secrets();
        pump.auth.hs256_secret = built_in().auth.hs256_secret;
        assert_eq!(check(&pump, PUMP, None), Ok(()));
    }
}
