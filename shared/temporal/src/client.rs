//! Connecting to the Temporal frontend.

use std::time::Duration;

use kitchen_adapters::config::TemporalSettings;
use temporalio_client::{Client, ClientOptions, Connection, ConnectionOptions};

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid Temporal address {0:?}")]
    Address(String),
    #[error("cannot connect to Temporal: {0}")]
    Connect(String),
}

/// Connects to `settings.address` in `settings.namespace`.
pub async fn connect(settings: &TemporalSettings, identity: &str) -> Result<Client, ConnectError> {
    let url = settings
        .address
        .parse::<url::Url>()
        .map_err(|_| ConnectError::Address(settings.address.clone()))?;
    let options = ConnectionOptions::new(url)
        .identity(identity.to_owned())
        .connect_timeout(Duration::from_secs(5))
        .build();
    let connection = Connection::connect(options)
        .await
        .map_err(|e| ConnectError::Connect(e.to_string()))?;
    Client::new(
        connection,
        ClientOptions::new(settings.namespace.clone()).build(),
    )
    .map_err(|e| ConnectError::Connect(e.to_string()))
}

/// Connects, retrying with backoff (up to 5 s apart) while Temporal is
/// unreachable: a service started before Temporal waits for it instead of dying.
pub async fn connect_with_retry(
    settings: &TemporalSettings,
    identity: &str,
) -> Result<Client, ConnectError> {
    let mut backoff = Duration::from_millis(200);
    loop {
        match connect(settings, identity).await {
            Ok(client) => return Ok(client),
            Err(e @ ConnectError::Address(_)) => return Err(e),
            Err(e) => {
                tracing::warn!(cause = %e, address = %settings.address, retry_in = ?backoff, "Temporal unreachable; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// A readiness check: Temporal's frontend answers its gRPC health check.
pub fn readiness_check(client: &Client) -> kitchen_adapters::edge::Check {
    use temporalio_client::tonic::IntoRequest;
    use temporalio_common::protos::grpc::health::v1::HealthCheckRequest;
    let connection = client.connection().clone();
    kitchen_adapters::edge::Check::new("temporal", move || {
        let mut health = connection.health_service();
        async move {
            health
                .check(HealthCheckRequest::default().into_request())
                .await
                .map(|_| ())
                .map_err(|status| status.message().to_owned())
        }
    })
}
