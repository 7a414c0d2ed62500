//! Login: email + password -> an access token (HS256, the gateway's key) and a
//! refresh token; refresh rotates; logout revokes. On only when HS256 is.
//!
//! An unknown email, a tenant that is not active and a wrong password take
//! the same work (an argon2 verify, against a dummy hash when there is no
//! user) and give the same 401, so a caller learns nothing about who exists.

pub(crate) mod throttle;

use std::time::Duration;

use chrono::Utc;
use kitchen_adapters::auth::password::{PasswordCost, Passwords};
use kitchen_adapters::auth::{mint_access_token, AccessClaims};
use kitchen_adapters::config::{AuthSettings, LoginSettings};
use kitchen_adapters::postgres::credentials::NewRefreshToken;
use kitchen_domain::TenantId;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub(crate) use throttle::{Keys, Throttle};

/// Everything login needs; `None` in the gateway's state when HS256 is off.
#[derive(Clone)]
#[allow(missing_debug_implementations)]
pub(crate) struct Login {
    pub(crate) passwords: Passwords,
    pub(crate) throttle: std::sync::Arc<Throttle>,
    auth: AuthSettings,
    pub(crate) access_ttl: Duration,
    refresh_ttl: Duration,
}

impl Login {
    /// `Ok(None)` when HS256 is off (`auth.hs256_secret` empty).
    pub(crate) fn from_settings(
        auth: &AuthSettings,
        login: &LoginSettings,
    ) -> anyhow::Result<Option<Login>> {
        if auth.hs256_secret.expose_secret().is_empty() {
            return Ok(None);
        }
        let passwords = Passwords::new(PasswordCost {
            memory_kib: login.argon2_memory_kib,
            iterations: login.argon2_iterations,
            parallelism: login.argon2_parallelism,
        })?;
        Ok(Some(Login {
            passwords,
            throttle: std::sync::Arc::new(Throttle::new(
                login.max_failures_per_account,
                login.max_failures_per_address,
                Duration::from_secs(login.failure_window_secs),
            )),
            auth: auth.clone(),
            access_ttl: Duration::from_secs(login.access_token_ttl_secs),
            refresh_ttl: Duration::from_secs(login.refresh_token_ttl_secs),
        }))
    }

    /// An access token for `user` of `tenant`.
    pub(crate) fn access_token(
        &self,
        tenant: TenantId,
        user: Uuid,
        role: &str,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        mint_access_token(
            &self.auth,
            &AccessClaims {
                tenant,
                subject: user.to_string(),
                role: role.to_owned(),
            },
            self.access_ttl,
        )
    }

    /// A new refresh token (what the client gets) and its row (what is stored).
    pub(crate) fn refresh_token(
        &self,
        tenant: TenantId,
        user: Uuid,
        family: Uuid,
    ) -> (String, NewRefreshToken) {
        // 244 random bits (two v4 UUIDs); the tenant prefix says where to look.
        let token = format!(
            "{tenant}.{}{}",
            Uuid::new_v4().simple(),
            Uuid::new_v4().simple()
        );
        let row = NewRefreshToken {
            id: Uuid::new_v4(),
            family_id: family,
            user_id: user,
            token_hash: refresh_hash(&token),
            expires_at: Utc::now()
                + chrono::Duration::from_std(self.refresh_ttl)
                    .unwrap_or(chrono::Duration::days(30)),
        };
        (token, row)
    }
}

/// What is stored of a refresh token: its SHA-256, hex.
pub(crate) fn refresh_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The tenant a refresh token belongs to (its prefix), if it has the shape.
pub(crate) fn refresh_tenant(token: &str) -> Option<TenantId> {
    let (tenant, secret) = token.split_once('.')?;
    (secret.len() == 64).then_some(())?;
    tenant.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refresh_token_names_its_tenant_and_is_stored_as_a_hash() {
        let tenant = TenantId::new_random();
        let auth = kitchen_adapters::config::Settings::load().unwrap();
        let login = Login::from_settings(&auth.auth, &auth.login)
            .unwrap()
            .unwrap();
        let (token, row) = login.refresh_token(tenant, Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(refresh_tenant(&token), Some(tenant));
        assert_eq!(row.token_hash, refresh_hash(&token));
        assert_eq!(row.token_hash.len(), 64);
        assert!(!row.token_hash.contains(&token[37..]));
        assert_eq!(refresh_tenant("not-a-token"), None);
        assert_eq!(refresh_tenant(&format!("{tenant}.short")), None);
    }
}
