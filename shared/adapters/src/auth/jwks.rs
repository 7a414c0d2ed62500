//! A cache of JWKS signing keys: fetched lazily, kept for `ttl`, refetched when a
//! token names an unknown `kid` — at most once per `min_refetch`, so a flood of
//! tokens with made-up kids cannot turn into a flood of requests to the IdP.
//!
//! The cache's lock is never held across the network: a slow or hanging IdP
//! would otherwise stall every request, even those whose key is cached. One
//! fetch runs at a time (a second lock, taken only by callers that need a
//! fetch); while it runs, tokens with a cached key are served from the cache.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};

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
    /// Held only for short, synchronous reads and writes of the cache.
    state: Arc<std::sync::Mutex<State>>,
    /// Held across a fetch, so that one runs at a time.
    fetching: Arc<tokio::sync::Mutex<()>>,
}

/// What the cache can say about a `kid` without the network.
enum Lookup {
    /// Cached and fresh.
    Fresh(CachedKey),
    /// A fetch is due (stale cache, or an unknown kid past `min_refetch`);
    /// the cached key, if any, serves while another caller fetches.
    Fetch(Option<CachedKey>),
    /// Unknown, and refetched too recently to ask again.
    Unknown,
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
            fetching: Arc::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding it cannot leave the map half-written.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lookup(&self, kid: &str) -> Lookup {
        let state = self.state();
        let stale = state.fetched_at.is_none_or(|at| at.elapsed() >= self.ttl);
        let may_refetch = state
            .fetched_at
            .is_none_or(|at| at.elapsed() >= self.min_refetch);
        let cached = state.keys.get(kid).cloned();
        match cached {
            Some(key) if !stale => Lookup::Fresh(key),
            cached if stale || (cached.is_none() && may_refetch) => Lookup::Fetch(cached),
            Some(key) => Lookup::Fresh(key),
            None => Lookup::Unknown,
        }
    }

    /// How many times the key set was fetched (for tests and metrics).
    pub async fn fetch_count(&self) -> u64 {
        self.state().fetches
    }

    /// The key `kid` for a token signed with `alg`.
    pub async fn key(&self, kid: &str, alg: Algorithm) -> Result<DecodingKey, AuthError> {
        let cached = match self.lookup(kid) {
            Lookup::Fresh(key) => return checked(kid, key, alg),
            Lookup::Unknown => return Err(unknown(kid)),
            Lookup::Fetch(cached) => cached,
        };
        let fetching = match (self.fetching.try_lock(), cached) {
            (Ok(guard), _) => guard,
            // Another caller is fetching: a cached key serves meanwhile.
            (Err(_), Some(key)) => return checked(kid, key, alg),
            (Err(_), None) => self.fetching.lock().await,
        };
        // The fetch we waited for may have brought the key (or made a new
        // one pointless for `min_refetch`).
        if let Lookup::Fetch(_) = self.lookup(kid) {
            let fetched = self.fetch().await;
            let mut state = self.state();
            state.fetched_at = Some(Instant::now());
            state.fetches += 1;
            match fetched {
                Ok(keys) => state.keys = keys,
                // Keep serving cached keys through an IdP outage.
                Err(e) if !state.keys.is_empty() => {
                    tracing::warn!(cause = %e, url = %self.url, "JWKS refetch failed; using cached keys")
                }
                Err(e) => {
                    tracing::error!(cause = %e, url = %self.url, "JWKS fetch failed");
                    return Err(AuthError::KeysUnavailable);
                }
            }
        }
        drop(fetching);
        let cached = self.state().keys.get(kid).cloned();
        cached.map_or_else(|| Err(unknown(kid)), |key| checked(kid, key, alg))
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

fn unknown(kid: &str) -> AuthError {
    AuthError::UnknownKey(kid.chars().take(64).collect())
}

/// `key` if the token's `alg` is the one the key is published for.
fn checked(kid: &str, key: CachedKey, alg: Algorithm) -> Result<DecodingKey, AuthError> {
    if key.alg.is_some_and(|a| a != alg) {
        return Err(AuthError::UnsupportedAlgorithm(format!(
            "{alg:?} for key {:?}",
            kid.chars().take(64).collect::<String>()
        )));
    }
    Ok(key.key)
}
