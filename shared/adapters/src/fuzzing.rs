//! Entry points of the fuzz targets (`fuzz/`, cargo-fuzz) and of the tests
//! that replay their corpora (unit tests beside each entry): each feeds outside
//! input to one parser of this crate and checks what must hold whatever the
//! input (no panic; a typed refusal). Not an API: only `fuzz/` and tests use it.

use futures_util::FutureExt;
use secrecy::SecretString;
use serde_json::Value;

use crate::auth::{AuthError, Caller, JwtVerifier, PlatformAuthError};
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
/// Returns the tenant verification's answer.
pub fn jwt(data: &[u8]) -> Result<Caller, AuthError> {
    let verifier = JwtVerifier::new(&auth_settings());
    let token = if data.first() == Some(&b'{') {
        let claims: Value = serde_json::from_slice(data)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(data).into_owned()));
        let key = jsonwebtoken::EncodingKey::from_secret(FUZZ_SECRET.as_bytes());
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key)
            .expect("any JSON value serialises")
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
    match &tenant {
        Ok(caller) => assert!(!caller.tenant.as_uuid().is_nil(), "a nil tenant passed"),
        Err(e) => refusal(e),
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
    tenant
}

fn refusal(error: &AuthError) {
    assert!(!error.code().is_empty() && !error.to_string().is_empty());
    assert!(
        !matches!(error, AuthError::KeysUnavailable),
        "no JWKS is configured, so keys cannot be unavailable"
    );
}

/// NOTIFY payloads of the `commands`, `events` and `tenants` channels, as the
/// pump's listener, realtime's hub and the tenant gate read them. Returns
/// how many of the three channels' parsers took the payload.
pub fn notify_payload(data: &[u8]) -> usize {
    let Ok(payload) = std::str::from_utf8(data) else {
        // PostgreSQL payloads are text in the database encoding (UTF-8 here).
        return 0;
    };
    let mut taken = 0;
    if let Ok(note) = notify::parse_command_notification(payload) {
        let _ = kitchen_domain::TenantId::from_uuid(note.tenant_id);
        let _ = kitchen_domain::CommandId::from_uuid(note.id);
        taken += 1;
    }
    if let Ok(note) = notify::parse_events_notification(payload) {
        let _ = kitchen_domain::TenantId::from_uuid(note.tenant_id);
        // The hub only takes the larger of two seqs: any i64 must do.
        let _ = note.first_seq.max(note.last_seq);
        taken += 1;
    }
    if let Ok(note) = notify::parse_tenant_notification(payload) {
        let _ = kitchen_domain::TenantId::from_uuid(note.tenant_id);
        taken += 1;
    }
    taken
}

/// Every input of `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`
/// (crashes found once, kept after their fix), for the replay tests.
pub fn corpus(target: &str) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut inputs = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a readable corpus directory").path();
            let data = std::fs::read(&path).expect("a readable corpus file");
            inputs.push((path, data));
        }
    }
    inputs.sort();
    assert!(
        inputs.len() >= 10,
        "fuzz/corpus/{target} has {} inputs: the seeds are missing",
        inputs.len()
    );
    inputs
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The JWT target's corpus, replayed: every input answered, some tokens
    /// accepted and the rest refused for several distinct, typed reasons.
    #[test]
    fn the_jwt_corpus_replays_with_typed_refusals() {
        let (mut accepted, mut codes) = (0, BTreeSet::new());
        for (path, data) in corpus("jwt") {
            // Shown only if the replay fails: which input did it.
            eprintln!("replaying {}", path.display());
            match jwt(&data) {
                Ok(_) => accepted += 1,
                Err(e) => {
                    codes.insert(e.code());
                }
            }
        }
        assert!(accepted >= 2, "{accepted} tokens accepted");
        for code in [
            "token_missing",
            "token_malformed",
            "token_expired",
            "token_bad_signature",
            "token_unsupported_algorithm",
            "token_bad_tenant",
            "token_wrong_audience",
        ] {
            assert!(
                codes.contains(code),
                "no seed refused with {code}: {codes:?}"
            );
        }
    }

    #[test]
    fn the_notify_corpus_replays_and_well_formed_payloads_parse() {
        let inputs = corpus("notify_payload");
        let mut taken = 0;
        for (path, data) in &inputs {
            eprintln!("replaying {}", path.display());
            taken += notify_payload(data);
        }
        assert!(taken >= 5, "only {taken} payloads parsed");
    }
}
