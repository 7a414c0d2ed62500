//! Entry points of the fuzz targets (`fuzz/`, cargo-fuzz) and of the tests
//! that replay their corpora (`tests/fuzz_corpus.rs`): each feeds outside
//! input to one parser of this crate and checks what must hold whatever the
//! input (no panic; a typed refusal). Not an API: only `fuzz/` and tests use it.

use futures_util::FutureExt;
use secrecy::SecretString;
use serde_json::Value;

use crate::auth::{AuthError, JwtVerifier, PlatformAuthError};
use crate::config::AuthSettings;
use crate::postgres::notify;

/// The HS256 key, issuer and audiences the JWT target verifies against (the
/// corpus' signed seeds use them).
pub const FUZZ_SECRET: &str = "fuzzing-hs256-key-0123456789abcdef0123";
pub const FUZZ_ISSUER: &str = "kitchen-fuzz";
pub const FUZZ_AUDIENCE: &str = "kitchen";
pub const FUZZ_PLATFORM_AUDIENCE: &str = "kitchen-platform";

fn auth_settings() -> AuthSettings {
    AuthSettings {
        issuer: FUZZ_ISSUER.into(),
        audience: FUZZ_AUDIENCE.into(),
        hs256_secret: SecretString::from(FUZZ_SECRET),
        // No JWKS: verification never touches the network, so it completes
        // without a runtime (RS256/ES256 tokens are refused as unsupported).
        jwks_url: String::new(),
        jwks_cache_secs: 300,
        jwks_min_refetch_secs: 10,
        leeway_secs: 5,
        platform_audience: FUZZ_PLATFORM_AUDIENCE.into(),
    }
}

/// JWT header and claims handling: the bearer token `Authorization: Bearer
/// <data>` would carry. When the first byte is `{`, the input is taken as
/// claims JSON and signed with [`FUZZ_SECRET`] first, so that fuzzing reaches
/// the claims checks behind the signature.
pub fn jwt(data: &[u8]) {
    let verifier = JwtVerifier::new(&auth_settings());
    let token = if data.first() == Some(&b'{') {
        let claims: Value = serde_json::from_slice(data)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(data).into_owned()));
        let key = jsonwebtoken::EncodingKey::from_secret(FUZZ_SECRET.as_bytes());
        match jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key) {
            Ok(token) => token,
            Err(_) => return,
        }
    } else {
        String::from_utf8_lossy(data).into_owned()
    };
    let header = format!("Bearer {token}");
    let Ok(token) = crate::auth::bearer_token(Some(&header)) else {
        panic!("a Bearer header always yields its token");
    };
    let tenant = verifier
        .verify(token)
        .now_or_never()
        .expect("HS256 verification never waits");
    match tenant {
        Ok(caller) => assert!(!caller.tenant.as_uuid().is_nil(), "a nil tenant passed"),
        Err(e) => refusal(&e),
    }
    let platform = verifier
        .verify_platform(token)
        .now_or_never()
        .expect("HS256 verification never waits");
    match platform {
        Ok(_) => {}
        Err(PlatformAuthError::Unauthorized(e)) => refusal(&e),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

fn refusal(error: &AuthError) {
    assert!(!error.code().is_empty() && !error.to_string().is_empty());
    assert!(
        !matches!(error, AuthError::KeysUnavailable),
        "no JWKS is configured, so keys cannot be unavailable"
    );
}

/// NOTIFY payloads of the `commands`, `events` and `tenants` channels, as the
/// pump's listener, realtime's hub and the tenant gate read them.
pub fn notify_payload(data: &[u8]) {
    let Ok(payload) = std::str::from_utf8(data) else {
        // PostgreSQL payloads are text in the database encoding (UTF-8 here).
        return;
    };
    if let Ok(note) = notify::parse_command_notification(payload) {
        let _ = kitchen_domain::TenantId::from_uuid(note.tenant_id);
        let _ = kitchen_domain::CommandId::from_uuid(note.id);
    }
    if let Ok(note) = notify::parse_events_notification(payload) {
        let _ = kitchen_domain::TenantId::from_uuid(note.tenant_id);
        // The hub only takes the larger of two seqs: any i64 must do.
        let _ = note.first_seq.max(note.last_seq);
    }
    if let Ok(note) = notify::parse_tenant_notification(payload) {
        let _ = kitchen_domain::TenantId::from_uuid(note.tenant_id);
    }
}
