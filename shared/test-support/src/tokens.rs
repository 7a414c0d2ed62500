//! Tokens for tests: HS256 with the configured secret, RS256/ES256 with the
//! throwaway keys in `keys/`, and a tiny JWKS server that counts its requests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use kitchen_adapters::config::AuthSettings;
use kitchen_domain::TenantId;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const RSA_KID: &str = "test-rsa";
pub const EC_KID: &str = "test-ec";
const RSA_PEM: &str = include_str!("../keys/rsa-test-key.pem");
const EC_PEM: &str = include_str!("../keys/ec-test-key.pem");
const JWKS: &str = include_str!("../keys/jwks.json");

/// Standard claims for `tenant`, valid from a minute ago for `ttl_secs`.
pub fn claims(settings: &AuthSettings, tenant: TenantId, ttl_secs: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "tenant_id": tenant.to_string(),
        "sub": "test-user",
        "role": "admin",
        "iss": settings.issuer,
        "aud": settings.audience,
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + ttl_secs,
    })
}

/// Signs `claims` with HS256 and `secret`.
pub fn hs256(secret: &str, claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}

/// A valid HS256 token for `tenant` with the configured secret.
pub fn valid(settings: &AuthSettings, tenant: TenantId) -> String {
    hs256(
        settings.hs256_secret.expose_secret(),
        &claims(settings, tenant, 3600),
    )
}

/// Signs `claims` with the test RSA key (kid `test-rsa`, or `kid`).
pub fn rs256(claims: &Value, kid: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    encode(
        &header,
        claims,
        &EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()).expect("rsa key"),
    )
    .expect("sign")
}

/// Signs `claims` with the test EC P-256 key (kid `test-ec`).
pub fn es256(claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(EC_KID.into());
    encode(
        &header,
        claims,
        &EncodingKey::from_ec_pem(EC_PEM.as_bytes()).expect("ec key"),
    )
    .expect("sign")
}

/// Serves the test JWKS on a free port and counts requests.
#[derive(Debug, Clone)]
pub struct JwksServer {
    pub url: String,
    requests: Arc<AtomicUsize>,
}

impl JwksServer {
    pub async fn start() -> JwksServer {
        Self::start_stalling(usize::MAX, std::time::Duration::ZERO).await
    }

    /// A server that answers its first `fast` requests at once and every
    /// later one only after `stall` (an identity provider gone slow).
    pub async fn start_stalling(fast: usize, stall: std::time::Duration) -> JwksServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let index = counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    if index >= fast {
                        tokio::time::sleep(stall).await;
                    }
                    let mut buf = [0u8; 4096];
                    let _ = socket.read(&mut buf).await;
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{JWKS}",
                        JWKS.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        JwksServer { url, requests }
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}
