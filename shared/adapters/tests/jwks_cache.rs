//! The JWKS cache never holds its lock across the network: while a refetch
//! waits on a slow identity provider, tokens whose key is cached verify at
//! once, and the refetch still happens only once.

use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use kitchen_adapters::auth::{AuthError, JwksCache};
use kitchen_test_support::tokens::{JwksServer, RSA_KID};

#[tokio::test]
async fn a_cached_key_is_served_while_a_refetch_hangs_on_the_identity_provider() {
    let stall = Duration::from_secs(3);
    let server = JwksServer::start_stalling(1, stall).await;
    let min_refetch = Duration::from_millis(300);
    let cache = JwksCache::new(server.url.clone(), Duration::from_secs(300), min_refetch);
    cache
        .key(RSA_KID, Algorithm::RS256)
        .await
        .expect("the first fetch brings the key");
    // An unknown kid may trigger a refetch only `min_refetch` after the last.
    tokio::time::sleep(min_refetch).await;

    // An unknown kid makes the cache refetch; the server stalls that fetch.
    let refetching = tokio::spawn({
        let cache = cache.clone();
        async move { cache.key("made-up-kid", Algorithm::RS256).await }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.requests() < 2 {
        assert!(
            Instant::now() < deadline,
            "the refetch never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Meanwhile the cached key is served without waiting for the fetch.
    let began = Instant::now();
    for _ in 0..20 {
        cache
            .key(RSA_KID, Algorithm::RS256)
            .await
            .expect("the cached key is served");
    }
    let took = began.elapsed();
    assert!(
        took < Duration::from_millis(500),
        "cached keys waited {took:?} behind a fetch that stalls {stall:?}"
    );
    assert!(!refetching.is_finished(), "the refetch was still stalled");

    // A second unknown kid during the fetch waits for that fetch rather than
    // starting another one.
    let second = cache.key("another-made-up-kid", Algorithm::RS256).await;
    assert!(
        matches!(second, Err(AuthError::UnknownKey(_))),
        "{:?}",
        second.err()
    );
    let first = refetching.await.unwrap();
    assert!(
        matches!(first, Err(AuthError::UnknownKey(_))),
        "{:?}",
        first.err()
    );
    assert_eq!(server.requests(), 2, "one refetch, however many callers");
    assert_eq!(cache.fetch_count().await, 2);
}
