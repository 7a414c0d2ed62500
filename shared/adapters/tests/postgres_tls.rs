//! TLS to PostgreSQL (`database.sslmode`, `database.sslrootcert`) against the
//! real local server. Debian's PostgreSQL serves TLS with its "snakeoil"
//! certificate, self-signed for `localhost`: so `require` is encrypted,
//! `verify-ca` with that certificate as the root passes, `verify-full` passes
//! to `localhost` and fails on the name to 127.0.0.1 (as it must). A server
//! without TLS skips the TLS cases, saying so.

use diesel::sql_types::Bool;
use diesel_async::RunQueryDsl;
use kitchen_adapters::config::{DbRole, Settings};
use kitchen_adapters::postgres::tls::{establish, SslMode};
use secrecy::ExposeSecret;

const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

#[derive(diesel::QueryableByName)]
struct Encrypted {
    #[diesel(sql_type = Bool)]
    ssl: bool,
}

fn url(mode: SslMode, root: &str) -> String {
    url_to("127.0.0.1", mode, root)
}

fn url_to(host: &str, mode: SslMode, root: &str) -> String {
    let mut db = Settings::load().unwrap().database;
    db.host = host.to_owned();
    db.sslmode = mode;
    db.sslrootcert = root.to_owned();
    db.url_for(DbRole::Gateway, "postgres")
        .expose_secret()
        .to_owned()
}

async fn encrypted(url: &str) -> Result<bool, String> {
    let mut conn = establish(url).await.map_err(|e| e.to_string())?;
    let row: Encrypted =
        diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .get_result(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
    Ok(row.ssl)
}

#[tokio::test]
async fn sslmode_decides_whether_the_connection_is_encrypted_and_verified() {
    assert_eq!(encrypted(&url(SslMode::Disable, "")).await, Ok(false));
    let error = encrypted(&url(SslMode::VerifyFull, "")).await.unwrap_err();
    assert!(error.contains("database.sslrootcert"), "{error}");

    match encrypted(&url(SslMode::Require, "")).await {
        Ok(true) => {}
        Ok(false) => panic!("sslmode=require gave a plain connection"),
        Err(e) => {
            eprintln!("this PostgreSQL serves no TLS ({e}); the TLS cases are skipped");
            return;
        }
    }
    assert_eq!(encrypted(&url(SslMode::Prefer, "")).await, Ok(true));
    if std::fs::read(SNAKEOIL).is_err() {
        eprintln!("no {SNAKEOIL}: the verify cases are skipped");
        return;
    }
    assert_eq!(
        encrypted(&url(SslMode::VerifyCa, SNAKEOIL)).await,
        Ok(true),
        "the server's own certificate as the root"
    );
    let error = encrypted(&url(SslMode::VerifyFull, SNAKEOIL))
        .await
        .unwrap_err();
    assert!(
        error.contains("not valid for name"),
        "verify-full to 127.0.0.1 with a certificate for `localhost`: {error}"
    );
    // The certificate names `localhost`: verify-full there passes.
    assert_eq!(
        encrypted(&url_to("localhost", SslMode::VerifyFull, SNAKEOIL)).await,
        Ok(true)
    );
    // Another CA's certificate is refused even by verify-ca.
    let other_ca = std::env::temp_dir().join(format!("kitchen-tls-{}.pem", std::process::id()));
    std::fs::write(&other_ca, OTHER_CA).unwrap();
    let error = encrypted(&url(SslMode::VerifyCa, other_ca.to_str().unwrap()))
        .await
        .unwrap_err();
    std::fs::remove_file(&other_ca).unwrap();
    assert!(!error.is_empty());

    // Pools open their connections through the same path.
    let pool = kitchen_adapters::postgres::pool(&url(SslMode::Require, "").into(), 1).unwrap();
    let mut conn = pool.get().await.unwrap();
    let row: Encrypted =
        diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .get_result(&mut *conn)
            .await
            .unwrap();
    assert!(
        row.ssl,
        "a pooled connection with sslmode=require is encrypted"
    );
}

/// A throwaway self-signed CA certificate (no key kept), never the server's.
const OTHER_CA: &str = include_str!("../../test-support/keys/other-ca.pem");
