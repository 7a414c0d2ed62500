//! Development tokens: HS256 JWTs that the gateway and realtime accept when
//! they share the secret, issuer and audience (`[auth]` in
//! `configuration/base.toml`). For development and scripts only; production
//! tokens come from an identity provider.
//!
//! A crate of its own so that the `kitchen` CLI can mint a token without the
//! server's settings loader or its Postgres adapters (it needs only these three
//! values), while `kitchen-admin dev-token` mints exactly the same token.
#![forbid(unsafe_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use uuid::Uuid;

/// `auth.hs256_secret` of `configuration/base.toml`: the development default.
/// A test of kitchen-adapters keeps these three equal to the file.
pub const DEFAULT_SECRET: &str = "kitchen-dev-secret-change-me-please-0123456789";
/// `auth.issuer` of `configuration/base.toml`.
pub const DEFAULT_ISSUER: &str = "kitchen-dev";
/// `auth.audience` of `configuration/base.toml`.
pub const DEFAULT_AUDIENCE: &str = "kitchen";
/// `auth.platform_audience` of `configuration/base.toml`.
pub const DEFAULT_PLATFORM_AUDIENCE: &str = "kitchen-platform";

/// What a token is signed with and for: must match the server's `[auth]`.
#[derive(Clone)]
pub struct DevKey<'a> {
    pub secret: &'a str,
    pub issuer: &'a str,
    pub audience: &'a str,
}

// The secret never appears in logs or panic messages.
impl std::fmt::Debug for DevKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevKey")
            .field("secret", &"<redacted>")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl DevKey<'_> {
    /// A platform administrator's token (`role: "platform_admin"`, no tenant),
    /// valid from now for `ttl`; `audience` must be the platform audience.
    pub fn mint_platform(
        &self,
        subject: &str,
        ttl: Duration,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        self.sign(
            serde_json::json!({"sub": subject, "role": "platform_admin"}),
            ttl,
        )
    }

    /// A token for `tenant` (the `tenant_id` claim) and `subject` (`sub`, the
    /// commands' user), role `admin` (development: the household's owner),
    /// valid from now for `ttl`.
    pub fn mint(
        &self,
        tenant: Uuid,
        subject: &str,
        ttl: Duration,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        self.mint_as(tenant, subject, "admin", ttl)
    }

    /// As [`DevKey::mint`], with the `role` claim given.
    pub fn mint_as(
        &self,
        tenant: Uuid,
        subject: &str,
        role: &str,
        ttl: Duration,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        self.sign(
            serde_json::json!({"tenant_id": tenant.to_string(), "sub": subject, "role": role}),
            ttl,
        )
    }

    /// Signs `claims` plus `iss`, `aud`, `iat`, `nbf` and `exp`.
    fn sign(
        &self,
        mut claims: serde_json::Value,
        ttl: Duration,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let standard = serde_json::json!({
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + ttl.as_secs(),
        });
        if let (Some(claims), Some(standard)) = (claims.as_object_mut(), standard.as_object()) {
            claims.extend(standard.clone());
        }
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(self.secret.as_bytes()),
        )
    }
}
