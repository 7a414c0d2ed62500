//! Verifies bearer tokens (JWT) and turns them into a [`Caller`]: the tenant comes
//! from the `tenant_id` claim and nowhere else.
//!
//! HS256 uses the configured shared secret; RS256 and ES256 use keys from the
//! JWKS URL. The algorithm decides the key source, so a token can never get an
//! RSA public key used as an HMAC secret (algorithm confusion).

mod jwks;
pub mod password;
mod platform;

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use kitchen_domain::TenantId;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::config::AuthSettings;
pub use jwks::JwksCache;
pub use platform::{PlatformAuthError, PlatformCaller, PLATFORM_ROLE};

/// Who is calling, as proven by a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant: TenantId,
    /// The token's `sub`, if any (recorded as the command's user).
    pub subject: Option<String>,
    /// The token's `role` claim, if any (`admin`, `member`).
    pub role: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// Why a token was refused. `Display` is the reason sent to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("wrong issuer")]
    WrongIssuer,
    #[error("wrong audience")]
    WrongAudience,
    #[error("bad signature")]
    BadSignature,
    #[error("algorithm {0} is not accepted")]
    UnsupportedAlgorithm(String),
    #[error("unknown signing key {0:?}")]
    UnknownKey(String),
    #[error("token has no valid tenant_id claim: {0}")]
    BadTenant(String),
    #[error("signing keys unavailable")]
    KeysUnavailable,
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("refresh token unknown, expired or revoked")]
    InvalidRefreshToken,
    #[error("refresh token already used; every token of this login is revoked")]
    RefreshTokenReused,
}

impl AuthError {
    /// A stable code for metrics and problem+json.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "token_missing",
            Self::Malformed(_) => "token_malformed",
            Self::Expired => "token_expired",
            Self::NotYetValid => "token_not_yet_valid",
            Self::WrongIssuer => "token_wrong_issuer",
            Self::WrongAudience => "token_wrong_audience",
            Self::BadSignature => "token_bad_signature",
            Self::UnsupportedAlgorithm(_) => "token_unsupported_algorithm",
            Self::UnknownKey(_) => "token_unknown_key",
            Self::BadTenant(_) => "token_bad_tenant",
            Self::KeysUnavailable => "signing_keys_unavailable",
            Self::InvalidCredentials => "invalid_credentials",
            Self::InvalidRefreshToken => "invalid_refresh_token",
            Self::RefreshTokenReused => "refresh_token_reused",
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    #[serde(default)]
    tenant_id: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    role: Option<String>,
    exp: i64,
}

/// Verifies tokens against the configured issuer, audience and keys.
#[derive(Clone)]
pub struct JwtVerifier {
    issuer: String,
    audience: String,
    leeway: u64,
    hs256: Option<DecodingKey>,
    jwks: Option<JwksCache>,
    /// The audience of platform tokens (`auth.platform_audience`).
    platform_audience: String,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("hs256", &self.hs256.is_some())
            .field("jwks", &self.jwks)
            .finish()
    }
}

impl JwtVerifier {
    pub fn new(settings: &AuthSettings) -> Self {
        let secret = settings.hs256_secret.expose_secret();
        let jwks = (!settings.jwks_url.is_empty()).then(|| {
            JwksCache::new(
                settings.jwks_url.clone(),
                Duration::from_secs(settings.jwks_cache_secs),
                Duration::from_secs(settings.jwks_min_refetch_secs),
            )
        });
        Self {
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            leeway: settings.leeway_secs,
            hs256: (!secret.is_empty()).then(|| DecodingKey::from_secret(secret.as_bytes())),
            jwks,
            platform_audience: settings.platform_audience.clone(),
        }
    }

    /// Verifies `token` (without the `Bearer ` prefix).
    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let claims: Claims = self.decode_claims(token, &self.audience).await?;
        let tenant = claims
            .tenant_id
            .as_deref()
            .ok_or_else(|| AuthError::BadTenant("claim missing".into()))?
            .parse::<TenantId>()
            .map_err(|e| AuthError::BadTenant(e.to_string()))?;
        let expires_at = Utc
            .timestamp_opt(claims.exp, 0)
            .single()
            .ok_or_else(|| AuthError::Malformed("exp out of range".into()))?;
        Ok(Caller {
            tenant,
            subject: claims.sub,
            role: claims.role,
            expires_at,
        })
    }

    /// Checks signature, `exp`, `nbf`, `iss` and that `aud` is `audience`;
    /// returns the claims. The algorithm decides the key source.
    async fn decode_claims<C: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<C, AuthError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        let header = decode_header(token).map_err(|e| AuthError::Malformed(e.to_string()))?;
        let key = match header.alg {
            Algorithm::HS256 => self
                .hs256
                .clone()
                .ok_or_else(|| AuthError::UnsupportedAlgorithm("HS256".into()))?,
            Algorithm::RS256 | Algorithm::ES256 => {
                let jwks = self
                    .jwks
                    .as_ref()
                    .ok_or_else(|| AuthError::UnsupportedAlgorithm(format!("{:?}", header.alg)))?;
                let kid = header
                    .kid
                    .clone()
                    .ok_or_else(|| AuthError::Malformed("token has no kid".into()))?;
                jwks.key(&kid, header.alg).await?
            }
            other => return Err(AuthError::UnsupportedAlgorithm(format!("{other:?}"))),
        };
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = self.leeway;
        decode::<C>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
                ErrorKind::InvalidAudience => AuthError::WrongAudience,
                ErrorKind::InvalidSignature => AuthError::BadSignature,
                ErrorKind::MissingRequiredClaim(claim) => {
                    AuthError::Malformed(format!("missing claim {claim}"))
                }
                _ => AuthError::Malformed(e.to_string()),
            })
    }
}

/// Extracts the token from an `Authorization: Bearer <token>` header value.
pub fn bearer_token(header: Option<&str>) -> Result<&str, AuthError> {
    let value = header.ok_or(AuthError::Missing)?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| AuthError::Malformed("expected `Bearer <token>`".into()))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Malformed("expected `Bearer <token>`".into()));
    }
    Ok(token)
}

/// Who an access token minted by login is for.
#[derive(Debug, Clone)]
pub struct AccessClaims {
    pub tenant: TenantId,
    /// The user's id.
    pub subject: String,
    pub role: String,
}

/// Mints the access token of a login: HS256 with `auth.hs256_secret`,
/// `iss` = `auth.issuer`, `aud` = `auth.audience`, valid for `ttl`.
pub fn mint_access_token(
    settings: &AuthSettings,
    claims: &AccessClaims,
    ttl: Duration,
) -> Result<String, jsonwebtoken::errors::Error> {
    dev_key(settings, &settings.audience).mint_as(
        claims.tenant.as_uuid(),
        &claims.subject,
        &claims.role,
        ttl,
    )
}

/// Mints an HS256 token with the configured secret, issuer and audience: for
/// development and tests only (production tokens come from your identity provider).
pub fn mint_dev_token(
    settings: &AuthSettings,
    tenant: TenantId,
    subject: &str,
    ttl: Duration,
) -> Result<String, jsonwebtoken::errors::Error> {
    dev_key(settings, &settings.audience).mint(tenant.as_uuid(), subject, ttl)
}

/// The HS256 key of `settings` for tokens of `audience`.
fn dev_key<'a>(settings: &'a AuthSettings, audience: &'a str) -> kitchen_dev_token::DevKey<'a> {
    kitchen_dev_token::DevKey {
        secret: settings.hs256_secret.expose_secret(),
        issuer: &settings.issuer,
        audience,
    }
}

/// Mints a development platform token (`role: "platform_admin"`, audience
/// `auth.platform_audience`) with the HS256 secret: development and tests only.
pub fn mint_platform_token(
    settings: &AuthSettings,
    subject: &str,
    ttl: Duration,
) -> Result<String, jsonwebtoken::errors::Error> {
    dev_key(settings, &settings.platform_audience).mint_platform(subject, ttl)
}
