//! A cache of JWKS signing keys: fetched lazily, kept for `ttl`, refetched when a
//! token names an unknown `kid` — at most once per `min_refetch`, so a flood of
//! tokens with made-up kids cannot turn into a flood of requests to the IdP.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::Mutex;

use super::AuthError;

#[derive(Clone)]
struct CachedKey {
    key: DecodingKey,
    alg: Option<Algorithm>,
}

#[derive(Default)]
struct State {
    keys: HashMap<String, CachedKey>,
    fetched_at: Option<Instant>,
    fetches: u64,
}

/// See the module docs. Cheap to clone (shared state).
#[derive(Clone)]
pub struct JwksCache {
    url: String,
    ttl: Duration,
    min_refetch: Duration,
    client: reqwest::Client,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

fn algorithm(alg: KeyAlgorithm) -> Option<Algorithm> {
    match alg {
        KeyAlgorithm::RS256 => Some(Algorithm::RS256),
        KeyAlgorithm::ES256 => Some(Algorithm::ES256),
        _ => None,
    }
}

impl JwksCache {
    pub fn new(url: String, ttl: Duration, min_refetch: Duration) -> Self {
        Self {
            url,
            ttl,
            min_refetch,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("static reqwest configuration"),
            state: Arc::default(),
        }
    }

    /// How many times the key set was fetched (for tests and metrics).
    pub async fn fetch_count(&self) -> u64 {
        self.state.lock().await.fetches
    }

    /// The key `kid` for a token signed with `alg`.
    pub async fn key(&self, kid: &str, alg: Algorithm) -> Result<DecodingKey, AuthError> {
        let mut state = self.state.lock().await;
        let stale = state.fetched_at.is_none_or(|at| at.elapsed() >= self.ttl);
        let may_refetch = state
            .fetched_at
            .is_none_or(|at| at.elapsed() >= self.min_refetch);
        if stale || (!state.keys.contains_key(kid) && may_refetch) {
            match self.fetch().await {
                Ok(keys) => state.keys = keys,
                // Keep serving cached keys through an IdP outage.
                Err(e) if !state.keys.is_empty() => {
                    tracing::warn!(cause = %e, url = %self.url, "JWKS refetch failed; using cached keys")
                }
                Err(e) => {
                    tracing::error!(cause = %e, url = %self.url, "JWKS fetch failed");
                    state.fetched_at = Some(Instant::now());
                    state.fetches += 1;
                    return Err(AuthError::KeysUnavailable);
                }
            }
            state.fetched_at = Some(Instant::now());
            state.fetches += 1;
        }
        let cached = state
            .keys
            .get(kid)
            .ok_or_else(|| AuthError::UnknownKey(kid.chars().take(64).collect()))?;
        if cached.alg.is_some_and(|a| a != alg) {
            return Err(AuthError::UnsupportedAlgorithm(format!(
                "{alg:?} for key {kid:?}"
            )));
        }
        Ok(cached.key.clone())
    }

    async fn fetch(&self) -> Result<HashMap<String, CachedKey>, String> {
        let set: JwkSet = self
            .client
            .get(&self.url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            match DecodingKey::from_jwk(jwk) {
                Ok(key) => {
                    let alg = jwk.common.key_algorithm.and_then(algorithm);
                    keys.insert(kid, CachedKey { key, alg });
                }
                Err(e) => tracing::warn!(cause = %e, kid, "skipping unusable JWK"),
            }
        }
        Ok(keys)
    }
}
