//! Platform tokens: `role: "platform_admin"` and the platform audience
//! (`auth.platform_audience`, distinct from tenants' `auth.audience`), so no
//! tenant token — nor a tenant identity provider issuing tenant-audience
//! tokens — can act on the platform API. A valid tenant token there is 403,
//! anything unverifiable 401.

use serde::Deserialize;

use super::{AuthError, JwtVerifier};

/// The `role` claim of a platform token.
pub const PLATFORM_ROLE: &str = "platform_admin";

/// A verified platform administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformCaller {
    /// The token's `sub` (recorded as the platform command's user).
    pub subject: Option<String>,
}

/// Why a request may not use the platform API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformAuthError {
    /// 401: not a token this service can verify.
    #[error(transparent)]
    Unauthorized(AuthError),
    /// 403: a valid token, but not a platform administrator's.
    #[error("{0}")]
    Forbidden(&'static str),
}

#[derive(Debug, Deserialize)]
struct PlatformClaims {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    sub: Option<String>,
}

impl JwtVerifier {
    /// Verifies a platform token (see the module docs).
    pub async fn verify_platform(&self, token: &str) -> Result<PlatformCaller, PlatformAuthError> {
        match self
            .decode_claims::<PlatformClaims>(token, &self.platform_audience)
            .await
        {
            Ok(claims) if claims.role.as_deref() == Some(PLATFORM_ROLE) => Ok(PlatformCaller {
                subject: claims.sub,
            }),
            Ok(_) => Err(PlatformAuthError::Forbidden(
                "the platform API needs role platform_admin",
            )),
            Err(AuthError::WrongAudience) if self.verify(token).await.is_ok() => Err(
                PlatformAuthError::Forbidden("tenant tokens may not use the platform API"),
            ),
            Err(e) => Err(PlatformAuthError::Unauthorized(e)),
        }
    }
}
