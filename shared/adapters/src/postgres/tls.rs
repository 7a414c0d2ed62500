//! TLS to PostgreSQL (`database.sslmode`, `database.sslrootcert`), with
//! libpq's meanings: `disable` (plain TCP), `prefer` (TLS when the server
//! offers it, unverified), `require` (TLS, unverified: encrypted, but open to
//! a man in the middle), `verify-ca` (the server's chain must lead to
//! `sslrootcert`), `verify-full` (and its name must be the host connected to).
//!
//! Every connection of the platform is opened by [`establish`] from a URL
//! that carries both settings (see `DatabaseSettings::url`), so pools, LISTEN
//! connections, migrations and bootstrap all follow the same setting. The
//! driver (tokio-postgres) knows only `disable`/`prefer`/`require`; the
//! verification is rustls' (ring), through tokio-postgres-rustls.

use std::sync::Arc;

use diesel::{ConnectionError, ConnectionResult};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Deserialize;

/// `database.sslmode` (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    #[default]
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    /// The URL value (libpq's spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn parse(value: &str) -> ConnectionResult<SslMode> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(ConnectionError::InvalidConnectionUrl(format!(
                    "sslmode {other:?}: expected disable, prefer, require, verify-ca or verify-full"
                )))
            }
        })
    }
}

/// Opens a connection to `url`, over TLS when its `sslmode` asks for it.
pub async fn establish(url: &str) -> ConnectionResult<AsyncPgConnection> {
    let (driver_url, mode, root) = split(url)?;
    if mode == SslMode::Disable {
        return AsyncPgConnection::establish(&driver_url).await;
    }
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(client_config(mode, root.as_deref())?);
    let (client, connection) = tokio_postgres::connect(&driver_url, tls)
        .await
        .map_err(|e| ConnectionError::BadConnection(with_causes(&e)))?;
    AsyncPgConnection::try_from_client_and_connection(client, connection).await
}

/// The URL for the driver (verify modes become `require`, `sslrootcert`
/// removed: tokio-postgres refuses both), the mode and the root file.
fn split(url: &str) -> ConnectionResult<(String, SslMode, Option<String>)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), SslMode::Disable, None));
    };
    let (mut mode, mut root, mut kept) = (SslMode::Disable, None, Vec::new());
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("sslmode", value)) => mode = SslMode::parse(value)?,
            Some(("sslrootcert", value)) => {
                root = Some(
                    percent_decode(value)
                        .ok_or_else(|| bad_url("sslrootcert is not valid percent-encoding"))?,
                )
            }
            _ => kept.push(pair),
        }
    }
    let driver_mode = match mode {
        SslMode::Disable => "disable",
        SslMode::Prefer => "prefer",
        _ => "require",
    };
    let mut query: Vec<String> = kept.iter().map(|p| (*p).to_owned()).collect();
    query.push(format!("sslmode={driver_mode}"));
    Ok((format!("{base}?{}", query.join("&")), mode, root))
}

/// "error performing TLS handshake" alone does not say that the name or the
/// chain was wrong: the causes do.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

fn bad_url(why: &str) -> ConnectionError {
    ConnectionError::InvalidConnectionUrl(why.to_owned())
}

fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls configuration of `mode`, trusting the certificates of `root`.
fn client_config(mode: SslMode, root: Option<&str>) -> ConnectionResult<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectionError::BadConnection(format!("TLS setup: {e}")))?;
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        SslMode::Disable | SslMode::Prefer | SslMode::Require => Arc::new(Unverified),
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let path = root.filter(|p| !p.is_empty()).ok_or_else(|| {
                bad_url("sslmode verify-ca and verify-full need database.sslrootcert")
            })?;
            let mut roots = RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| ConnectionError::BadConnection(format!("sslrootcert {path}: {e}")))?;
            for cert in certs {
                let cert = cert.map_err(|e| {
                    ConnectionError::BadConnection(format!("sslrootcert {path}: {e}"))
                })?;
                roots.add(cert).map_err(|e| {
                    ConnectionError::BadConnection(format!("sslrootcert {path}: {e}"))
                })?;
            }
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| ConnectionError::BadConnection(format!("sslrootcert {path}: {e}")))?;
            Arc::new(Verified {
                webpki,
                check_name: mode == SslMode::VerifyFull,
            })
        }
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// `verify-ca` / `verify-full`: the chain to a root of `sslrootcert`, and
/// for `verify-full` the host name too.
#[derive(Debug)]
struct Verified {
    webpki: Arc<WebPkiServerVerifier>,
    check_name: bool,
}

impl ServerCertVerifier for Verified {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            // verify-ca trusts any name on a certificate of its CA.
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// `prefer` / `require`: encrypted, the certificate not checked (libpq's
/// meaning when no root certificate is given). Handshake signatures are
/// still verified, so the peer holds the key of the certificate it sent.
#[derive(Debug)]
struct Unverified;

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_driver_gets_a_mode_it_knows_and_no_root_file() {
        let (url, mode, root) =
            split("postgres://u@h:5432/db?connect_timeout=5&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem")
                .unwrap();
        assert_eq!(
            url,
            "postgres://u@h:5432/db?connect_timeout=5&sslmode=require"
        );
        assert_eq!(mode, SslMode::VerifyFull);
        assert_eq!(root.as_deref(), Some("/etc/ca.pem"));
        let (url, mode, _) = split("postgres://u@h/db?connect_timeout=5").unwrap();
        assert_eq!(
            (url.as_str(), mode),
            (
                "postgres://u@h/db?connect_timeout=5&sslmode=disable",
                SslMode::Disable
            )
        );
        assert!(split("postgres://u@h/db?sslmode=sometimes").is_err());
    }

    #[test]
    fn verify_modes_need_a_root_certificate() {
        let error = client_config(SslMode::VerifyFull, None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("database.sslrootcert"), "{error}");
    }
}
